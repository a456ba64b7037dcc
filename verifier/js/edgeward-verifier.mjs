// edgeward-verifier.mjs — origin-side verification of what the edgeward gateway forwards.
// WebCrypto only, no dependencies: Node >= 20, Cloudflare Workers, Deno, browsers.
//
// Same checks as the Rust crate `edgeward-verifier` (see verifier/README.md):
// - RFC 9421 signature (label "edgeward"): covers @method, @target-uri, the assertion header when
//   present and every configured claim header present; created/expires fresh (with maxSkew),
//   created not older than the replay window; nonce not seen within the window (in memory);
//   keyid -> gateway JWKS key (ecdsa-p256-sha256, raw r||s per RFC 9421 §3.3.4) or the HMAC key
//   (hmac-sha256); alg, when present, matching the key.
// - Assertion (x-edgeward-assertion): ES256 compact JWS, typ "edgeward-assertion+jwt", kid in the
//   JWKS, iss = gatewayId, aud = Web origin of the target URI (or `audience`), iat/exp fresh,
//   exp - iat <= 60, jti not seen within the window.
// Not checked: the body / content-digest, uncovered header fields (use `covered`), replay across
// processes. Only the RFC 9421 subset the gateway emits is parsed; anything else is refused.

const ASSERTION_TYP = "edgeward-assertion+jwt";
const MAX_ASSERTION_TTL = 60;
const MAX_COVERED_COMPONENTS = 32;
const MAX_SIGNATURE_FIELD_BYTES = 8 * 1024;
const MAX_ASSERTION_BYTES = 16 * 1024;
const MAX_REMEMBERED_NONCES = 100_000;

/** A refused request; `code` is stable. */
export class VerifyError extends Error {
  constructor(code, detail = "") {
    super(detail ? `${code}: ${detail}` : code);
    this.code = code;
  }
}

const fail = (code, detail) => {
  throw new VerifyError(code, detail);
};

const te = new TextEncoder();

function b64decode(text, url) {
  const ok = url ? /^[A-Za-z0-9_-]*$/.test(text) : /^[A-Za-z0-9+/]*={0,2}$/.test(text);
  if (!ok) fail("Malformed", "base64");
  let s = url ? text.replace(/-/g, "+").replace(/_/g, "/") : text;
  if (url) while (s.length % 4) s += "=";
  try {
    return Uint8Array.from(atob(s), (c) => c.charCodeAt(0));
  } catch {
    return fail("Malformed", "base64");
  }
}

/** Header fields as [lower-case name, value] pairs, from a Headers object, pairs or a plain object. */
function fieldList(headers) {
  const pairs =
    typeof headers?.entries === "function" && !Array.isArray(headers)
      ? [...headers.entries()]
      : Array.isArray(headers)
        ? headers
        : Object.entries(headers ?? {});
  return pairs.map(([n, v]) => [String(n).toLowerCase(), String(v)]);
}

const getAll = (fields, name) => fields.filter(([n]) => n === name).map(([, v]) => v);

// ---- RFC 8941 subset: Dictionary of Inner Lists of Strings with Integer/String params; Byte Sequences.
class Parser {
  constructor(text) {
    this.s = text;
    this.i = 0;
  }
  peek() {
    return this.s[this.i];
  }
  eat(c) {
    if (this.s[this.i] === c) {
      this.i++;
      return true;
    }
    return false;
  }
  skip(ows) {
    while (this.peek() === " " || (ows && this.peek() === "\t")) this.i++;
  }
  dictionary(member) {
    this.skip(false);
    if (this.i >= this.s.length) return;
    for (;;) {
      const key = this.key();
      if (!this.eat("=")) fail("Malformed", "dictionary member without value");
      member(key);
      this.skip(true);
      if (this.i >= this.s.length) return;
      if (!this.eat(",")) fail("Malformed", "dictionary");
      this.skip(true);
      if (this.i >= this.s.length) fail("Malformed", "trailing comma");
    }
  }
  key() {
    const m = /^[a-z*][a-z0-9_.*-]*/.exec(this.s.slice(this.i));
    if (!m) fail("Malformed", "key");
    this.i += m[0].length;
    return m[0];
  }
  string() {
    if (!this.eat('"')) fail("Malformed", "string");
    let out = "";
    for (;;) {
      const c = this.s[this.i++];
      if (c === undefined) fail("Malformed", "string");
      if (c === '"') return out;
      if (c === "\\") {
        const n = this.s[this.i++];
        if (n !== '"' && n !== "\\") fail("Malformed", "escape");
        out += n;
      } else {
        const code = c.charCodeAt(0);
        if (code < 0x20 || code > 0x7e) fail("Malformed", "string character");
        out += c;
      }
    }
  }
  integer() {
    const m = /^-?[0-9]{1,15}(?![0-9.])/.exec(this.s.slice(this.i));
    if (!m) fail("Malformed", "integer");
    this.i += m[0].length;
    return Number(m[0]);
  }
  innerList() {
    if (!this.eat("(")) fail("Malformed", "inner list");
    const components = [];
    for (;;) {
      this.skip(false);
      if (this.eat(")")) break;
      if (this.peek() !== '"') fail("Malformed", "unsupported component");
      components.push(this.string());
      if (components.length > MAX_COVERED_COMPONENTS) fail("Malformed", "too many components");
      if (this.peek() !== " " && this.peek() !== ")") fail("Malformed", "component parameters unsupported");
    }
    const params = [];
    while (this.eat(";")) {
      this.skip(false);
      const name = this.key();
      if (!this.eat("=")) fail("Malformed", "boolean parameter unsupported");
      const c = this.peek();
      const value = c === '"' ? this.string() : /[-0-9]/.test(c ?? "") ? this.integer() : fail("Malformed", "parameter");
      if (params.some(([n]) => n === name)) fail("Malformed", "repeated parameter");
      params.push([name, value]);
    }
    return { components, params };
  }
  byteSequence() {
    if (!this.eat(":")) fail("Malformed", "byte sequence");
    const m = /^[A-Za-z0-9+/=]*/.exec(this.s.slice(this.i));
    this.i += m[0].length;
    if (!this.eat(":")) fail("Malformed", "byte sequence");
    return b64decode(m[0], false);
  }
}

function sfString(s) {
  return `"${s.replace(/[\\"]/g, (c) => `\\${c}`)}"`;
}

/** The `@signature-params` serialisation (RFC 9421 §2.3). */
export function serializeParams({ components, params }) {
  const list = `(${components.map(sfString).join(" ")})`;
  return list + params.map(([n, v]) => `;${n}=${typeof v === "number" ? v : sfString(v)}`).join("");
}

function combined(fields, name) {
  const value = getAll(fields, name).join(", ");
  if (value.length > MAX_SIGNATURE_FIELD_BYTES) fail("Malformed", `${name} too large`);
  return value;
}

/** The signature labelled `label`: its parameters and bytes (RFC 9421 §4.1, §4.2). */
export function findSignature(headers, label) {
  const fields = fieldList(headers);
  let params;
  let signature;
  const inputs = new Parser(combined(fields, "signature-input"));
  inputs.dictionary((key) => {
    const value = inputs.innerList();
    if (key === label) params = value;
  });
  const sigs = new Parser(combined(fields, "signature"));
  sigs.dictionary((key) => {
    const value = sigs.byteSequence();
    if (sigs.peek() === ";") fail("Malformed", "signature parameters unsupported");
    if (key === label) signature = value;
  });
  if (!params || !signature) fail("MissingSignature");
  return { params, signature };
}

/** The signature base (RFC 9421 §2.5) for a request. */
export function signatureBase({ method, targetUri, headers }, params) {
  const fields = fieldList(headers);
  const url = new URL(targetUri);
  const lines = [];
  const seen = new Set();
  for (const id of params.components) {
    if (seen.has(id)) fail("Malformed", "component covered twice");
    seen.add(id);
    let value;
    switch (id) {
      case "@method": value = method; break;
      case "@target-uri": value = targetUri; break;
      case "@authority": value = url.host; break;
      case "@scheme": value = url.protocol.slice(0, -1); break;
      case "@request-target": value = url.pathname + url.search; break;
      case "@path": value = url.pathname; break;
      case "@query": value = url.search || "?"; break;
      default: {
        if (id.startsWith("@") || !/^[a-z0-9_.*-]+$/.test(id)) fail("Malformed", `unsupported component ${id}`);
        const values = getAll(fields, id);
        if (values.length === 0) fail("Malformed", `covered field ${id} missing`);
        value = values.map((v) => v.replace(/^[ \t]+|[ \t]+$/g, "")).join(", ");
      }
    }
    if (/[\r\n]/.test(value)) fail("Malformed", "newline in component");
    lines.push(`${sfString(id)}: ${value}`);
  }
  lines.push(`"@signature-params": ${serializeParams(params)}`);
  return lines.join("\n");
}

const param = (params, name, type) => {
  const hit = params.params.find(([n, v]) => n === name && typeof v === type);
  return hit ? hit[1] : undefined;
};

export class Verifier {
  /**
   * @param {object} options
   * @param {{keys: object[]}} options.jwks  the gateway's JWK Set (GET /.well-known/edgeward/jwks.json)
   * @param {{keyid: string, secret: Uint8Array}} [options.hmac]  for hmac-sha256
   * @param {number} [options.maxSkew=5]  seconds
   * @param {number} [options.replayWindow=60]  seconds
   */
  constructor({
    jwks,
    hmac,
    maxSkew = 5,
    replayWindow = 60,
    label = "edgeward",
    gatewayId = "edgeward",
    audience,
    assertionHeader = "x-edgeward-assertion",
    claimHeaders = [],
    requireSignature = true,
    requireAssertion = true,
  }) {
    if (!jwks || !Array.isArray(jwks.keys)) throw new VerifyError("Config", "bad JWKS");
    if (hmac && hmac.secret.length < 32) throw new VerifyError("Config", "HMAC key shorter than 32 bytes");
    if (!(replayWindow > 0)) throw new VerifyError("Config", "replay window must be positive");
    Object.assign(this, { maxSkew, replayWindow, label, gatewayId, audience, requireSignature, requireAssertion });
    this.jwks = jwks.keys.filter((k) => k && k.kty === "EC" && k.crv === "P-256" && !("d" in k));
    this.hmac = hmac;
    this.assertionHeader = assertionHeader.toLowerCase();
    this.claimHeaders = claimHeaders.map((h) => h.toLowerCase());
    this.seen = new Map();
    this.keyCache = new Map();
  }

  async #ecKey(kid) {
    const jwk = this.jwks.find((k) => k.kid === kid && (k.alg === undefined || k.alg === "ES256") && (k.use === undefined || k.use === "sig"));
    if (!jwk) fail("UnknownKey");
    if (!this.keyCache.has(kid)) {
      const key = await crypto.subtle
        .importKey("jwk", { kty: "EC", crv: "P-256", x: jwk.x, y: jwk.y }, { name: "ECDSA", namedCurve: "P-256" }, false, ["verify"])
        .catch(() => fail("Config", "bad JWK"));
      this.keyCache.set(kid, key);
    }
    return this.keyCache.get(kid);
  }

  #fresh(now, created, expires) {
    const skew = this.maxSkew;
    if (created > now + skew || expires + skew < now || created + this.replayWindow + skew < now) fail("Stale");
  }

  async #checkSignature(now, request, fields) {
    const { params, signature } = findSignature(fields, this.label);
    const required = ["@method", "@target-uri"];
    if (getAll(fields, this.assertionHeader).length) required.push(this.assertionHeader);
    for (const h of this.claimHeaders) if (getAll(fields, h).length) required.push(h);
    for (const r of required) if (!params.components.includes(r)) fail("NotCovered", r);
    const created = param(params, "created", "number");
    const expires = param(params, "expires", "number");
    if (created === undefined || expires === undefined) fail("Malformed", "created / expires");
    this.#fresh(now, created, expires);
    const nonce = param(params, "nonce", "string") ?? fail("Malformed", "no nonce");
    const keyid = param(params, "keyid", "string") ?? fail("Malformed", "no keyid");
    const alg = param(params, "alg", "string");
    const base = te.encode(signatureBase({ ...request, headers: fields }, params));
    let ok;
    if (this.hmac && this.hmac.keyid === keyid) {
      if (alg !== undefined && alg !== "hmac-sha256") fail("UnknownKey");
      const key = await crypto.subtle.importKey("raw", this.hmac.secret, { name: "HMAC", hash: "SHA-256" }, false, ["verify"]);
      ok = await crypto.subtle.verify("HMAC", key, signature, base);
    } else {
      if (alg !== undefined && alg !== "ecdsa-p256-sha256") fail("UnknownKey");
      const key = await this.#ecKey(keyid);
      ok = signature.length === 64 && (await crypto.subtle.verify({ name: "ECDSA", hash: "SHA-256" }, key, signature, base));
    }
    if (!ok) fail("BadSignature");
    return { keyid, covered: params.components, nonce };
  }

  async #checkAssertion(now, targetUri, jwt) {
    if (jwt.length > MAX_ASSERTION_BYTES) fail("Malformed", "assertion too large");
    const parts = jwt.split(".");
    if (parts.length !== 3) fail("Malformed", "assertion");
    let header;
    let claims;
    try {
      header = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(b64decode(parts[0], true)));
      claims = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(b64decode(parts[1], true)));
    } catch (e) {
      if (e instanceof VerifyError) throw e;
      fail("Malformed", "assertion JSON");
    }
    if (typeof header !== "object" || header === null || typeof claims !== "object" || claims === null || Array.isArray(claims)) fail("Malformed", "assertion");
    if (header.alg !== "ES256") fail("UnknownKey");
    if ("crit" in header) fail("Malformed", "crit");
    if (header.typ !== ASSERTION_TYP) fail("WrongClaim", "typ");
    if (typeof header.kid !== "string") fail("UnknownKey");
    const key = await this.#ecKey(header.kid);
    const signature = b64decode(parts[2], true);
    const ok = signature.length === 64 && (await crypto.subtle.verify({ name: "ECDSA", hash: "SHA-256" }, key, signature, te.encode(`${parts[0]}.${parts[1]}`)));
    if (!ok) fail("BadSignature");
    if (claims.iss !== this.gatewayId) fail("WrongClaim", "iss");
    const audience = this.audience ?? new URL(targetUri).origin;
    if (claims.aud !== audience) fail("WrongClaim", "aud");
    const { iat, exp } = claims;
    if (!Number.isInteger(iat) || !Number.isInteger(exp)) fail("Malformed", "iat / exp");
    if (exp < iat || exp - iat > MAX_ASSERTION_TTL) fail("Stale");
    this.#fresh(now, iat, exp);
    if (typeof claims.jti !== "string") fail("Malformed", "no jti");
    return claims;
  }

  #remember(now, ids) {
    for (const [id, until] of this.seen) if (until < now) this.seen.delete(id);
    if (ids.some((id) => this.seen.has(id))) fail("Replayed");
    if (this.seen.size + ids.length > MAX_REMEMBERED_NONCES) fail("Replayed", "replay store full");
    const until = now + this.replayWindow + 2 * this.maxSkew;
    for (const id of ids) this.seen.set(id, until);
  }

  /**
   * Verifies a forwarded request. `headers`: a Headers object, [name, value] pairs or a plain object.
   * Resolves to { claims, covered, keyid }; rejects with a VerifyError.
   */
  async verify({ method, targetUri, headers, now = Math.floor(Date.now() / 1000) }) {
    const fields = fieldList(headers);
    const request = { method, targetUri };
    const result = { claims: {}, covered: [], keyid: undefined };
    const ids = [];
    if (this.requireSignature || getAll(fields, "signature-input").length) {
      const { keyid, covered, nonce } = await this.#checkSignature(now, request, fields);
      Object.assign(result, { keyid, covered });
      ids.push(`nonce:${nonce}`);
    }
    const assertions = getAll(fields, this.assertionHeader);
    if (assertions.length > 1) fail("Malformed", "assertion header repeated");
    if (assertions.length === 1) {
      result.claims = await this.#checkAssertion(now, targetUri, assertions[0]);
      ids.push(`jti:${result.claims.jti}`);
    } else if (this.requireAssertion) {
      fail("MissingAssertion");
    }
    this.#remember(now, ids);
    return result;
  }
}
