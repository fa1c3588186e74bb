// /login: email and password, then the second factor when the account has one.
import * as api from "./api.js";
import { $, onClick, onSubmit, say, show, takeFromAddress } from "./ui.js";
import { supportsPasskeys, usePasskey } from "./webauthn.js";

// A browser that holds a session goes on to /account, which signs in from the refresh
// cookie as on every load: looking here spends nothing. If the session turns out to be
// over, /account forgets it and sends the person back to this form.
if (api.hasSession()) window.location.replace("/account");

const passwordForm = $("password-form");
const mfaForm = $("mfa-form");
let mfaToken = null;

function passwordStep(message) {
  mfaToken = null;
  mfaForm.reset();
  show(mfaForm, false);
  show(passwordForm);
  show($("passkey-area"), supportsPasskeys());
  say($("password-error"), message, { focus: Boolean(message) });
  if (!message) $("email").focus();
}

onSubmit(passwordForm, $("password-error"), async ({ email, password }) => {
  show($("unverified"), false);
  say($("password-notice"), "");
  let answer;
  try {
    answer = await api.signIn(email, password);
  } catch (error) {
    // REQUIRE_EMAIL_VERIFICATION keeps this account out until its address is confirmed.
    show($("unverified"), error.code === "email_unverified");
    throw error;
  }
  if (!answer.mfaRequired) {
    window.location.assign("/account");
    return;
  }
  mfaToken = answer.mfaToken;
  passwordForm.reset();
  show(passwordForm, false);
  show($("passkey-area"), false);
  show(mfaForm);
  $("code").focus();
});

onSubmit(mfaForm, $("mfa-error"), async ({ code }) => {
  try {
    await api.verifySecondFactor(mfaToken, code.trim());
  } catch (error) {
    // The mfaToken is dead (too many wrong codes, or 5 minutes passed): start over.
    if (error.code === "invalid_token") {
      passwordStep("That sign-in has expired. Enter your email and password again.");
      return;
    }
    throw error;
  }
  window.location.assign("/account");
});

$("mfa-cancel").addEventListener("click", () => passwordStep(""));

if (supportsPasskeys()) {
  show($("passkey-area"));
  onClick($("passkey-sign-in"), $("password-error"), async () => {
    const options = await api.anonymous("POST", "/auth/passkeys/options", {});
    await api.signInWithPasskey(await usePasskey(options));
    window.location.assign("/account");
  });
}

onClick($("resend-verification"), $("password-error"), async () => {
  const email = $("email").value;
  const answer = await api.anonymous("POST", "/auth/resend-verification", { email });
  show($("unverified"), false);
  say($("password-notice"), answer.message, { focus: true });
});

if (takeFromAddress("account") === "deleted") {
  say($("login-notice"), "Your account has been deleted.", { focus: true });
}
