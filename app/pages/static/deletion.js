// The Delete account section of /account: a first button opens the confirmation, which
// asks for the password; only its own button deletes. The service's answer clears the
// refresh and CSRF cookies, so nothing of the session is left in the browser.
import * as api from "./api.js";
import { $, clearFieldErrors, onSubmit, say, show } from "./ui.js";

/** Wire the section; `deleted` runs once the account is gone. */
export function setUpDeletion(deleted) {
  const form = $("delete-form");
  const start = $("delete-start");

  function confirming(open) {
    form.reset();
    clearFieldErrors(form);
    say($("delete-error"), "");
    show(form, open);
    show(start, !open);
    (open ? $("delete-password") : start).focus();
  }

  start.addEventListener("click", () => confirming(true));
  $("delete-cancel").addEventListener("click", () => confirming(false));
  onSubmit(form, $("delete-error"), async ({ password }) => {
    await api.call("DELETE", "/me", { password });
    api.forget();
    deleted();
  });
}
