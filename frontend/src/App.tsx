import { QueryClientProvider } from "@tanstack/react-query";
import { useState } from "react";
import { createBrowserRouter, RouterProvider } from "react-router";
import { Toaster } from "sonner";
import { createQueryClient } from "@/api/queryClient";
import { AuthProvider } from "@/auth/AuthProvider";
import { TooltipProvider } from "@/components/ui/tooltip";
import { PageTitleProvider } from "@/lib/pageTitle";
import { ThemeProvider, useTheme } from "@/lib/theme";
import { routes } from "@/routes";

const router = createBrowserRouter(routes);

function ThemedToaster() {
  const { resolved } = useTheme();
  return <Toaster theme={resolved} position="bottom-right" closeButton richColors={false} toastOptions={{ className: "text-sm" }} />;
}

export function App() {
  const [queryClient] = useState(createQueryClient);
  return (
    <ThemeProvider>
      <QueryClientProvider client={queryClient}>
        <AuthProvider>
          <PageTitleProvider>
            <TooltipProvider delayDuration={250}>
              <RouterProvider router={router} />
            </TooltipProvider>
          </PageTitleProvider>
        </AuthProvider>
        <ThemedToaster />
      </QueryClientProvider>
    </ThemeProvider>
  );
}
