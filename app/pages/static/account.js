// /account: signs in from the refresh cookie, then shows the profile and wires each section.
import * as api from "./api.js";
import { setUpDeletion } from "./deletion.js";
import { setUpSecondFactor } from "./mfa.js";
import { setUpPasskeys } from "./passkeys.js";
import { setUpPassword } from "./password.js";
import { loadSessions, setUpSessions } from "./sessions.js";
import { $, onClick, onSubmit, say, show, when } from "./ui.js";

function toLogin() {
  window.location.assign("/login");
}

// The sign-in page says so (`?account=deleted` is a fact about the visit, not a secret).
function deleted() {
  window.location.assign("/login?account=deleted");
}

function showProfile(me) {
  $("profile-email").textContent = me.email;
  $("profile-role").textContent = me.role;
  $("profile-verified").textContent = me.emailVerified ? "Yes" : "Not yet";
  $("profile-created").textContent = when(me.createdAt);
  // For password managers: the account the password fields belong to.
  for (const id of ["password-username", "delete-username"]) $(id).value = me.email;
  show($("resend-area"), !me.emailVerified);
}

async function start() {
  try {
    await api.refresh();
  } catch (error) {
    if (error.status === 401 || error.status === 403) {
      toLogin(); // no session in this browser, or it has ended
      return;
    }
    say($("account-error"), error.message, { focus: true });
    show($("loading"), false);
    return;
  }
  const me = await api.call("GET", "/me");
  showProfile(me);
  setUpSecondFactor(me.mfaEnabled);
  await Promise.all([loadSessions(), setUpPasskeys()]);
  show($("loading"), false);
  show($("signed-in"));
}

onClick($("sign-out"), $("account-error"), async () => {
  await api.signOut();
  toLogin();
});

onClick($("resend-verification"), $("account-error"), async () => {
  const answer = await api.call("POST", "/auth/resend-verification");
  say($("profile-notice"), answer.message);
});

onSubmit($("email-form"), $("email-error"), async (fields) => {
  const answer = await api.call("POST", "/me/email", fields);
  $("email-form").reset();
  say($("email-notice"), answer.message);
});

api.whenSignedOut(toLogin);
setUpSessions(toLogin);
setUpPassword();
setUpDeletion(deleted);
start().catch((error) => {
  show($("loading"), false);
  say($("account-error"), error.message, { focus: true });
});
