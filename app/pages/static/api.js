// The JSON API, as the pages call it.
//
// Cookie mode (docs/cookie-mode.md): the refresh token lives in an HttpOnly cookie that no
// script can read, and the access token only in the variable below, for the life of the
// page. Nothing is kept in web storage, and no token is put into an address.

const CSRF_COOKIE = "__Host-csrf_token";
const COOKIE_MODE = { "X-Token-Transport": "cookie" };
// A refresh token works once: tabs that refresh at the same moment would spend the same
// one, and the second would look like theft. The Web Locks API makes them take turns.
const REFRESH_LOCK = "auth-refresh";

let accessToken = null;
let refreshing = null;
let signedOut = () => {};

export class ApiError extends Error {
  constructor(status, body) {
    super((body && body.error) || `The service answered ${status}.`);
    this.status = status;
    this.code = body ? body.code : undefined;
    this.details = body ? body.details : undefined;
  }
}

async function send(method, path, { body, headers = {} } = {}) {
  const init = { method, headers: { ...headers }, credentials: "same-origin" };
  if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  let response;
  try {
    response = await fetch(path, init);
  } catch {
    throw new ApiError(0, { error: "The service cannot be reached. Try again.", code: "network" });
  }
  const text = await response.text();
  let data = null;
  if (text) {
    try {
      data = JSON.parse(text);
    } catch {
      data = null;
    }
  }
  if (!response.ok) throw new ApiError(response.status, data);
  return data;
}

function csrfProof() {
  for (const part of document.cookie.split(";")) {
    const [name, ...value] = part.trim().split("=");
    if (name === CSRF_COOKIE) return value.join("=");
  }
  return "";
}

function keep(answer) {
  accessToken = answer.accessToken;
  return answer;
}

function withLock(work) {
  if (navigator.locks) return navigator.locks.request(REFRESH_LOCK, work);
  return work();
}

/**
 * Whether this browser holds a session, as far as a script can tell without spending the
 * refresh token: the service sets and clears the CSRF cookie together with the HttpOnly
 * refresh cookie, for the same time. A session ended elsewhere leaves both behind, until
 * `refresh` finds it dead and `forget` drops the CSRF cookie.
 */
export function hasSession() {
  return csrfProof() !== "";
}

/**
 * Forget this browser's session, which ended by other means (signed out everywhere,
 * refused by the service): the access token, and the CSRF cookie, the one cookie a script
 * can touch, so that no page takes the browser for signed in any more. A refresh cookie
 * left behind is dead, and the next sign-in replaces it.
 */
export function forget() {
  accessToken = null;
  document.cookie = `${CSRF_COOKIE}=; Max-Age=0; Path=/; Secure; SameSite=Strict`;
}

/** Spend the refresh cookie for a new access token (and the next cookie). */
export function refresh() {
  if (!refreshing) {
    refreshing = withLock(() =>
      send("POST", "/auth/refresh", { headers: { "X-CSRF-Token": csrfProof() } }),
    )
      .then(keep, (error) => {
        if (error.status === 401 || error.status === 403) forget(); // the session is over
        throw error;
      })
      .finally(() => {
        refreshing = null;
      });
  }
  return refreshing;
}

// A sign-in in cookie mode: the refresh token goes to the cookie, the access token here.
function signInAt(path, body) {
  return send("POST", path, { body, headers: COOKIE_MODE });
}

/** Sign in with a password: `{mfaRequired, mfaToken}` when a second factor is asked. */
export async function signIn(email, password) {
  const answer = await signInAt("/auth/login", { email, password });
  return answer.mfaRequired ? answer : keep(answer);
}

/** The second step of a sign-in: a TOTP code, or a recovery code. */
export async function verifySecondFactor(mfaToken, code) {
  const field = /^\d{6}$/.test(code) ? "code" : "recoveryCode";
  return keep(await signInAt("/auth/mfa/verify", { mfaToken, [field]: code }));
}

/** Sign in with a passkey: the credential (JSON) the authenticator gave. */
export async function signInWithPasskey(credential) {
  return keep(await signInAt("/auth/passkeys/login", { credential }));
}

/** A call that needs no sign-in (forgot or reset password, the mailed links). */
export function anonymous(method, path, body) {
  return send(method, path, { body });
}

/** Run `handler` when a call finds the session over (ended elsewhere, or expired). */
export function whenSignedOut(handler) {
  signedOut = handler;
}

async function renew() {
  try {
    await refresh();
  } catch (error) {
    if (error.status === 401 || error.status === 403) signedOut();
    throw error;
  }
}

/** A call as the signed-in person; an expired access token is refreshed once. */
export async function call(method, path, body) {
  if (!accessToken) await renew();
  // Cookie mode asked of every call: an answer that issues a token pair (a password
  // change) then keeps its refresh token in the cookie too.
  const attempt = () =>
    send(method, path, {
      body,
      headers: { Authorization: `Bearer ${accessToken}`, ...COOKIE_MODE },
    });
  try {
    return await attempt();
  } catch (error) {
    if (error.status !== 401 || !["token_expired", "invalid_token"].includes(error.code)) {
      throw error;
    }
    await renew();
    return attempt();
  }
}

/** Adopt the token pair an answer carries (a password change starts a new session). */
export function adopt(answer) {
  return keep(answer);
}

/** End this session: its cookies are cleared by the answer. */
export async function signOut() {
  try {
    await withLock(() => send("POST", "/auth/logout", { headers: { "X-CSRF-Token": csrfProof() } }));
  } finally {
    accessToken = null;
  }
}
