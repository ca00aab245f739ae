/**
 * Built-in signed tokens: HS256 JWTs (`hono/jwt`, WebCrypto underneath) signed with
 * `ARBITER_SECRET`. Your login service issues them; the server checks the signature and
 * expiry at join and binds the seat to the token's user.
 *
 * @module
 */
import { sign, verify } from "hono/jwt";
import type { AuthUser } from "./socket_session.ts";

/**
 * Issues a token for a user, valid for `expiresInSeconds` (default one hour).
 *
 * @example
 * ```ts
 * import { signToken, signedTokenVerifier } from "./tokens.ts";
 * const SECRET = "at-least-32-bytes-as-HS256-needs!"; // ARBITER_SECRET
 * const token = await signToken(SECRET, { userId: "u42", name: "Ann" });
 * const user = await signedTokenVerifier(SECRET)(token);
 * console.log(user); // { userId: "u42", name: "Ann" }
 * ```
 */
export function signToken(
  secret: string,
  user: AuthUser,
  expiresInSeconds = 3600,
): Promise<string> {
  const now = Math.floor(Date.now() / 1000);
  return sign({ sub: user.userId, name: user.name, iat: now, exp: now + expiresInSeconds }, secret);
}

/**
 * A verifier for tokens signed with `secret`: resolves with the user, or null when the token
 * is missing, malformed, wrongly signed or expired.
 *
 * @example
 * ```ts
 * import { signedTokenVerifier } from "./tokens.ts";
 * const SECRET = "at-least-32-bytes-as-HS256-needs!"; // ARBITER_SECRET
 * const user = await signedTokenVerifier(SECRET)("not-a-token");
 * console.log(user); // null
 * ```
 */
export function signedTokenVerifier(
  secret: string,
): (token: string | undefined) => Promise<AuthUser | null> {
  return async (token) => {
    if (!token) return null;
    try {
      const payload = await verify(token, secret, "HS256");
      if (typeof payload.sub !== "string" || payload.sub === "") return null;
      // `verify` checks `exp` only when present: a token that never expires is refused.
      if (typeof payload.exp !== "number") return null;
      const name = typeof payload.name === "string" ? payload.name : payload.sub;
      return { userId: payload.sub, name };
    } catch {
      return null;
    }
  };
}
