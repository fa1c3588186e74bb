// The Passkeys section of /account: list them, add one, remove one.
import * as api from "./api.js";
import { $, element, onClick, onSubmit, say, show, when } from "./ui.js";
import { createPasskey, supportsPasskeys } from "./webauthn.js";

function row(passkey) {
  const item = element("li", { attributes: { "data-passkey-id": String(passkey.id) } });
  const used = passkey.lastUsedAt ? `last used ${when(passkey.lastUsedAt)}` : "not used yet";
  item.append(
    element("span", { text: `${passkey.name}. Added ${when(passkey.createdAt)}, ${used}.` }),
  );
  const remove = element("button", {
    text: "Remove",
    className: "secondary",
    attributes: { type: "button", "aria-label": `Remove the passkey ${passkey.name}` },
  });
  onClick(remove, $("passkeys-error"), async () => {
    await api.call("DELETE", `/me/passkeys/${encodeURIComponent(passkey.id)}`);
    say($("passkeys-notice"), `The passkey ${passkey.name} was removed.`);
    await loadPasskeys();
  });
  item.append(remove);
  return item;
}

async function loadPasskeys() {
  const { passkeys } = await api.call("GET", "/me/passkeys");
  $("passkeys-list").replaceChildren(...passkeys.map(row));
  show($("passkeys-none"), passkeys.length === 0);
}

async function addPasskey({ name }) {
  say($("passkeys-notice"), "");
  const credential = await createPasskey(await api.call("POST", "/me/passkeys/options"));
  const body = name.trim() ? { credential, name: name.trim() } : { credential };
  const added = await api.call("POST", "/me/passkeys", body);
  $("passkey-form").reset();
  say($("passkeys-notice"), `The passkey ${added.name} was added.`);
  await loadPasskeys();
}

export async function setUpPasskeys() {
  if (supportsPasskeys()) {
    onSubmit($("passkey-form"), $("passkeys-error"), addPasskey);
  } else {
    show($("passkey-form"), false);
    say($("passkeys-notice"), "This browser cannot make passkeys.");
  }
  await loadPasskeys();
}
