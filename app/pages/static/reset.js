// /reset: without a token, ask for a reset link by mail; with the mailed ?token=, choose
// a new password. The token is taken out of the address bar as soon as the page reads it.
import * as api from "./api.js";
import { $, onSubmit, say, show, takeFromAddress } from "./ui.js";

const token = takeFromAddress("token");

onSubmit($("forgot-form"), $("forgot-error"), async ({ email }) => {
  const answer = await api.anonymous("POST", "/auth/forgot-password", { email });
  say($("forgot-notice"), answer.message, { focus: true });
});

onSubmit($("reset-form"), $("reset-error"), async ({ password }) => {
  let answer;
  try {
    answer = await api.anonymous("POST", "/auth/reset-password", { token, password });
  } catch (error) {
    // A used, expired or superseded link: offer to mail a new one.
    if (error.code === "invalid_reset_token") show($("forgot-form"));
    throw error;
  }
  api.forget(); // every session has ended, this browser's too
  show($("reset-form"), false);
  show($("reset-done"));
  say($("reset-notice"), `${answer.message}. Every device has been signed out.`, {
    focus: true,
  });
});

if (token) {
  show($("forgot-form"), false);
  show($("reset-form"));
  $("password").focus();
}
