//! API keys: `mm_` + an HS256 JWT signed by the server, carrying project, key id, permission and
//! the key record's nonce. The algorithm is pinned: `alg: none` and algorithm confusion fail.
//! A valid signature only says the server minted the key; the project actor then checks the key
//! against its live table, so a revoked or regenerated key fails on the very next request.

use std::cell::RefCell;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use mammoth_actors::records::{KeyClaims, KeyMinter, Permission};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::credcache::{self, CredCache};

/// The prefix of every API key.
pub const KEY_PREFIX: &str = "mm_";

/// The claims of a scoped token (CONTRACT section 9).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TokenClaims {
    /// Project id.
    pub pid: String,
    /// The id of the API key that minted it.
    pub kid: String,
    /// That key's nonce: regenerating or revoking the key kills its tokens.
    pub n: String,
    /// `read` or `write`, at most the minting key's.
    pub perm: Permission,
    /// The scope as given (validated at minting).
    pub scope: serde_json::Value,
    /// Issued at, seconds since the epoch.
    pub iat: u64,
    /// Expires at, seconds since the epoch.
    pub exp: u64,
    /// Unique token id.
    pub jti: String,
}

/// Signs and verifies API keys and scoped tokens. Each kind has its own key derived from the one
/// secret, so a token never verifies as a key, nor a key as a token.
pub struct KeySigner {
    encoding: EncodingKey,
    decoding: DecodingKey,
    header: Header,
    validation: Validation,
    token_encoding: EncodingKey,
    token_decoding: DecodingKey,
    token_header: Header,
    token_validation: Validation,
    /// Tells this signer's entries apart in the per-thread cache of verified keys.
    id: u64,
}

/// Source of [`KeySigner::id`]s.
static NEXT_SIGNER_ID: AtomicU64 = AtomicU64::new(1);

thread_local! {
    /// API keys this thread has verified (see [`crate::credcache`]): a hit skips only the HMAC
    /// and the decoding; whether the key is still live is the project actor's check on every
    /// request. One per worker thread: no lock, no contention.
    static VERIFIED: RefCell<CredCache<KeyClaims>> =
        RefCell::new(CredCache::new(credcache::MAX_ENTRIES, credcache::MAX_BYTES));
}

impl std::fmt::Debug for KeySigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeySigner")
            .field("kid", &self.header.kid)
            .finish_non_exhaustive()
    }
}

impl KeySigner {
    /// A signer for `secret`. The header's `kid` names the secret (a hash prefix, never the
    /// secret), so secrets can be rotated later.
    pub fn new(secret: &[u8]) -> KeySigner {
        let mut header = Header::new(Algorithm::HS256);
        let digest = Sha256::digest(secret);
        header.kid = Some(mammoth_actors::ids::hex(&digest[..4]));
        let mut validation = Validation::new(Algorithm::HS256);
        // API keys never expire (CONTRACT section 4): liveness is the key table's business.
        validation.required_spec_claims.clear();
        validation.validate_exp = false;

        let token_secret = Sha256::new()
            .chain_update(b"mammoth scoped token v1\0")
            .chain_update(secret)
            .finalize();
        let mut token_header = Header::new(Algorithm::HS256);
        token_header.kid = Some(format!(
            "t{}",
            mammoth_actors::ids::hex(&Sha256::digest(token_secret)[..4])
        ));
        let mut token_validation = Validation::new(Algorithm::HS256);
        // `exp` must be present; it is checked against the injected clock with no leeway
        // (`TokenClaims::exp`), so tests of expiry never sleep.
        token_validation.validate_exp = false;
        KeySigner {
            encoding: EncodingKey::from_secret(secret),
            decoding: DecodingKey::from_secret(secret),
            header,
            validation,
            token_encoding: EncodingKey::from_secret(&token_secret),
            token_decoding: DecodingKey::from_secret(&token_secret),
            token_header,
            token_validation,
            id: NEXT_SIGNER_ID.fetch_add(1, Ordering::Relaxed),
        }
    }

    /// Tells this signer apart from other servers' in per-thread caches.
    pub fn id(&self) -> u64 {
        self.id
    }

    /// Mints a scoped token.
    pub fn mint_token(&self, claims: &TokenClaims) -> String {
        jsonwebtoken::encode(&self.token_header, claims, &self.token_encoding)
            .expect("HS256 signing of plain claims cannot fail")
    }

    /// Verifies a scoped token's signature and reads its claims (expiry is the caller's check);
    /// `None` for anything forged, malformed or not a scoped token.
    pub fn verify_token(&self, token: &str) -> Option<TokenClaims> {
        jsonwebtoken::decode::<TokenClaims>(token, &self.token_decoding, &self.token_validation)
            .ok()
            .map(|data| data.claims)
    }

    /// Mints the key string for `claims`.
    pub fn mint(&self, claims: &KeyClaims) -> String {
        let jwt = jsonwebtoken::encode(&self.header, claims, &self.encoding)
            .expect("HS256 signing of plain claims cannot fail");
        format!("{KEY_PREFIX}{jwt}")
    }

    /// Verifies a key string's signature and reads its claims; `None` for anything forged,
    /// malformed, or not an API key.
    pub fn verify(&self, key: &str) -> Option<KeyClaims> {
        let cached = VERIFIED.with(|cache| cache.borrow().get(self.id, key));
        if cached.is_some() {
            return cached;
        }
        let jwt = key.strip_prefix(KEY_PREFIX)?;
        let claims = jsonwebtoken::decode::<KeyClaims>(jwt, &self.decoding, &self.validation)
            .ok()?
            .claims;
        // The claims were decoded from the key, so the key's length bounds their size.
        VERIFIED.with(|cache| {
            cache
                .borrow_mut()
                .insert(self.id, key, claims.clone(), key.len())
        });
        Some(claims)
    }

    /// A minter for the project actors.
    pub fn minter(self: &Arc<Self>) -> KeyMinter {
        let signer = self.clone();
        Arc::new(move |claims| signer.mint(claims))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;

    fn claims() -> KeyClaims {
        KeyClaims {
            pid: "p1".into(),
            kid: "k1".into(),
            perm: Permission::Read,
            n: "nonce".into(),
        }
    }

    #[test]
    fn minted_keys_verify_and_carry_their_claims() {
        let signer = KeySigner::new(b"secret one");
        let key = signer.mint(&claims());
        assert!(key.starts_with("mm_"));
        assert_eq!(signer.verify(&key), Some(claims()));
        assert_eq!(
            signer.verify(&key),
            Some(claims()),
            "from the cache, the same claims"
        );
        assert_eq!(
            KeySigner::new(b"secret two").verify(&key),
            None,
            "the cache is per signer"
        );
    }

    #[test]
    fn forged_tampered_and_unsigned_keys_fail() {
        let signer = KeySigner::new(b"secret one");
        let other = KeySigner::new(b"secret two");
        let key = other.mint(&claims());
        assert_eq!(signer.verify(&key), None, "signed with another secret");

        let key = signer.mint(&claims());
        let jwt = key.strip_prefix("mm_").unwrap();
        let parts: Vec<&str> = jwt.split('.').collect();
        let payload =
            URL_SAFE_NO_PAD.encode(br#"{"pid":"p1","kid":"k1","perm":"write","n":"nonce"}"#);
        let tampered = format!("mm_{}.{}.{}", parts[0], payload, parts[2]);
        assert_eq!(signer.verify(&tampered), None, "payload edited");

        let none_header = URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"JWT"}"#);
        let unsigned = format!("mm_{}.{}.", none_header, parts[1]);
        assert_eq!(signer.verify(&unsigned), None, "alg none");

        assert_eq!(signer.verify(jwt), None, "missing mm_ prefix");
        assert_eq!(signer.verify_token(jwt), None, "a key is never a token");
        assert_eq!(signer.verify("mm_garbage"), None);
    }
}

#[cfg(test)]
mod token_tests {
    use super::*;

    #[test]
    fn tokens_verify_and_never_pass_as_keys() {
        let signer = KeySigner::new(b"secret");
        let claims = TokenClaims {
            pid: "p".into(),
            kid: "k".into(),
            n: "n".into(),
            perm: Permission::Read,
            scope: serde_json::json!({"*": {}}),
            iat: 1,
            exp: 2,
            jti: "j".into(),
        };
        let token = signer.mint_token(&claims);
        assert_eq!(signer.verify_token(&token), Some(claims));
        assert_eq!(
            signer.verify(&format!("mm_{token}")),
            None,
            "a token is never a key"
        );
        assert_eq!(KeySigner::new(b"other").verify_token(&token), None);
    }
}
