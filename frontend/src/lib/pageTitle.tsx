import { createContext, useContext, useEffect, useState, type ReactNode } from "react";

const APP_NAME = "Dockyard";

export function documentTitle(title: string | null | undefined): string {
  return title ? `${title} · ${APP_NAME}` : APP_NAME;
}

const TitleContext = createContext<{ title: string; setTitle: (t: string) => void } | null>(null);

export function PageTitleProvider({ children }: { children: ReactNode }) {
  const [title, setTitle] = useState("");
  return <TitleContext.Provider value={{ title, setTitle }}>{children}</TitleContext.Provider>;
}

/**
 * Sets the top bar title and the browser tab title ("Audit · Dockyard").
 * `tabTitle` overrides the tab text, e.g. "local · Nodes" on a node page.
 */
export function usePageTitle(title: string, tabTitle?: string): void {
  const ctx = useContext(TitleContext);
  const setTitle = ctx?.setTitle;
  useEffect(() => {
    document.title = documentTitle(tabTitle ?? title);
    setTitle?.(title);
  }, [title, tabTitle, setTitle]);
}

export function useCurrentPageTitle(): string {
  return useContext(TitleContext)?.title ?? "";
}
