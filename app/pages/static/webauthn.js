// Passkeys in the browser: WebAuthn with the JSON forms of its options and credentials
// (WebAuthn Level 3), which the API speaks, and the browser's refusals in a person's words.

export function supportsPasskeys() {
  return (
    window.isSecureContext &&
    typeof PublicKeyCredential !== "undefined" &&
    typeof PublicKeyCredential.parseCreationOptionsFromJSON === "function" &&
    typeof PublicKeyCredential.parseRequestOptionsFromJSON === "function"
  );
}

function refusal(error) {
  if (error && error.name === "NotAllowedError") {
    return "No passkey was used: the request was cancelled or timed out.";
  }
  if (error && error.name === "InvalidStateError") {
    return "This device already holds a passkey for your account.";
  }
  return "The browser could not use a passkey here.";
}

async function ask(ceremony) {
  try {
    return (await ceremony()).toJSON();
  } catch (error) {
    throw new Error(refusal(error));
  }
}

/** Make a passkey from the service's creation options; the credential as JSON. */
export function createPasskey(options) {
  return ask(() =>
    navigator.credentials.create({
      publicKey: PublicKeyCredential.parseCreationOptionsFromJSON(options),
    }),
  );
}

/** Use a passkey (the authenticator offers those it holds); the credential as JSON. */
export function usePasskey(options) {
  return ask(() =>
    navigator.credentials.get({
      publicKey: PublicKeyCredential.parseRequestOptionsFromJSON(options),
    }),
  );
}
