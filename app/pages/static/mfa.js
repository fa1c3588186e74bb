// The Two-step verification section of /account: enroll an authenticator app (QR code,
// first code, recovery codes), get a new set of recovery codes, or turn it off.
import * as api from "./api.js";
import { loadSessions } from "./sessions.js";
import { $, element, onClick, onSubmit, say, show } from "./ui.js";

let qrUrl = null;

function state(enabled) {
  $("mfa-status").textContent = enabled
    ? "On: signing in asks for a code from your authenticator app."
    : "Off: signing in asks for your password only.";
  show($("mfa-off"), !enabled);
  show($("mfa-renew-form"), enabled);
  show($("mfa-disable-form"), enabled);
  show($("mfa-enroll-form"), false);
}

// The QR code is an SVG document from the service. It is shown as an image (a Blob URL):
// an <img> never runs script, where SVG put into the page as HTML could.
function showQr(svg) {
  if (qrUrl) URL.revokeObjectURL(qrUrl);
  qrUrl = URL.createObjectURL(new Blob([svg], { type: "image/svg+xml" }));
  $("mfa-qr").src = qrUrl;
}

// Shown once, as the service answers them only once; `notice` says why they changed.
function showRecoveryCodes(codes, notice = "") {
  $("mfa-codes-list").replaceChildren(...codes.map((code) => element("li", { text: code })));
  show($("mfa-codes"));
  say($("mfa-codes-notice"), notice, { focus: Boolean(notice) });
}

export function setUpSecondFactor(enabled) {
  state(enabled);
  onClick($("mfa-start"), $("account-error"), async () => {
    const enrollment = await api.call("POST", "/me/mfa/totp");
    showQr(enrollment.qrSvg);
    $("mfa-secret").textContent = enrollment.secret;
    show($("mfa-off"), false);
    show($("mfa-codes"), false);
    show($("mfa-enroll-form"));
    $("mfa-enroll-code").focus();
  });
  onSubmit($("mfa-enroll-form"), $("mfa-enroll-error"), async ({ code }) => {
    const { recoveryCodes } = await api.call("POST", "/me/mfa/totp/confirm", {
      code: code.trim(),
    });
    $("mfa-enroll-form").reset();
    $("mfa-secret").textContent = "";
    $("mfa-qr").removeAttribute("src");
    state(true);
    showRecoveryCodes(recoveryCodes);
    $("mfa-status").focus();
    await loadSessions(); // turning it on signed every other device out
  });
  onSubmit($("mfa-renew-form"), $("mfa-renew-error"), async ({ code }) => {
    const { recoveryCodes } = await api.call("POST", "/me/mfa/recovery-codes", {
      code: code.trim(),
    });
    $("mfa-renew-form").reset();
    showRecoveryCodes(recoveryCodes, "New recovery codes: the old ones no longer work.");
  });
  onSubmit($("mfa-disable-form"), $("mfa-disable-error"), async ({ code }) => {
    await api.call("DELETE", "/me/mfa/totp", { code: code.trim() });
    $("mfa-disable-form").reset();
    show($("mfa-codes"), false);
    state(false);
    say($("mfa-disable-error"), "");
  });
}
