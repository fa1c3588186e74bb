// /register: make an account, then sign in with it. Where the service keeps an account out
// until its address is confirmed (REQUIRE_EMAIL_VERIFICATION), the sign-in is refused: say
// that the link was mailed, and offer to send it again.
import * as api from "./api.js";
import { $, onClick, onSubmit, problem, say, show } from "./ui.js";

let email = "";

function registered(message, { unverified }) {
  show($("register-form"), false);
  show($("register-links"), false);
  show($("registered"));
  show($("unverified"), unverified);
  say($("registered-notice"), message, { focus: true });
}

onSubmit($("register-form"), $("register-error"), async (fields) => {
  await api.anonymous("POST", "/auth/register", fields);
  email = fields.email;
  try {
    await api.signIn(fields.email, fields.password);
  } catch (error) {
    const unverified = error.code === "email_unverified";
    registered(
      unverified
        ? `Your account is made. We mailed a link to ${email}: open it to confirm the ` +
          "address, then sign in."
        : `Your account is made, but signing in failed: ${problem(error)}`,
      { unverified },
    );
    return;
  }
  window.location.assign("/account");
});

onClick($("resend-verification"), $("registered-error"), async () => {
  const answer = await api.anonymous("POST", "/auth/resend-verification", { email });
  say($("registered-notice"), answer.message, { focus: true });
});
