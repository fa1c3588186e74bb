// The Change password section of /account. Every session ends with the old password; this
// page carries on in the new session the answer opens.
import * as api from "./api.js";
import { loadSessions } from "./sessions.js";
import { $, onSubmit, say } from "./ui.js";

export function setUpPassword() {
  const form = $("password-form");
  onSubmit(form, $("password-error"), async (fields) => {
    say($("password-notice"), "");
    api.adopt(await api.call("POST", "/me/password", fields));
    form.reset();
    say($("password-notice"), "Password changed. Every other device has been signed out.");
    await loadSessions();
  });
}
