(function () {
  try {
    var pref = localStorage.getItem("dockyard.theme");
    var dark =
      pref === "dark" ||
      ((pref === null || pref === "system") &&
        window.matchMedia("(prefers-color-scheme: dark)").matches);
    document.documentElement.classList.toggle("dark", dark);
    document.documentElement.style.colorScheme = dark ? "dark" : "light";
  } catch (e) {
    /* storage unavailable: fall back to light */
  }
})();
