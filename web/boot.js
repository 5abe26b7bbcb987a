// Starts the app. A file of its own, so the app's Content-Security-Policy allows no inline
// script at all.
import init from "/tessera_web.js";
init().catch((error) => {
  console.error(error);
  const boot = document.getElementById("boot");
  if (boot) boot.textContent = "Tessera could not start in this browser. Please reload, or try a current browser.";
});
