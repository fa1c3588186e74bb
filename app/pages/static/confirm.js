// /verify and /confirm-email: spend the mailed token when the person presses the button.
// Not on load: mail scanners that open every link would use the token up. The token is
// taken out of the address bar as soon as the page reads it.
import * as api from "./api.js";
import { $, onClick, say, show, takeFromAddress } from "./ui.js";

const token = takeFromAddress("token");
const button = $("confirm-button");

if (token) {
  onClick(button, $("confirm-error"), async () => {
    const { endpoint, endsSessions } = $("confirm").dataset;
    const answer = await api.anonymous("POST", endpoint, { token });
    if (endsSessions) api.forget(); // so that "Sign in" shows the form, not a dead session
    show($("confirm"), false);
    show($("confirm-done"));
    say($("confirm-notice"), answer.message, { focus: true });
  });
} else {
  show(button, false);
  say(
    $("confirm-error"),
    "This page needs the link from your email. Open the link again, exactly as it was mailed.",
  );
}
