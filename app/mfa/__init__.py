"""The second factor: TOTP (RFC 6238) authenticators, recovery codes, and the login
challenge (`mfaToken`) between a password and a code.

- `totp`: secrets, the otpauth URI and its QR code, codes and their single use.
- `crypto`: TOTP secrets encrypted at rest with MFA_ENCRYPTION_KEY.
- `recovery_codes`: single-use codes for a lost authenticator.
- `enrollment`: turning MFA on and off, new recovery codes, the admin reset.
- `challenges`: the `mfaToken` a password login gets, spent with a code.
- `exceptions`: what these refuse, without HTTP.

Who commits: these services never commit and never audit; they flush at most. The view
(or command) that calls them commits and writes the audit line, also when a service
raises `InvalidMfaCode` (its failure count must be kept). Settings come in as arguments
(`keys` is MFA_ENCRYPTION_KEY, `issuer` MFA_ISSUER), `now` is injectable for tests.
"""

# RFC 8176 `amr` values of a sign-in: a password alone, or a password and a one-time code.
AMR_PASSWORD = ("pwd",)
AMR_PASSWORD_OTP = ("pwd", "otp")
