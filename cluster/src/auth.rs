//! The cluster secret: every peer RPC carries an HMAC-SHA256 of its path and body.
//!
//! The key is derived from the JWT secret every node is given (`--jwt-secret`, the same on every
//! node by CONTRACT section 16): `HMAC-SHA256(jwt_secret, "mammoth cluster rpc v1")`, so the
//! signing key of API keys is never itself put on the wire's MACs. A request without a valid MAC
//! is answered 401 before its body is parsed: nobody outside the cluster can inject entries or
//! votes. A replayed request is harmless to Raft (it is a delayed duplicate, which the protocol
//! tolerates by design: terms and log indexes decide), so no nonce is kept.

use hmac::{Hmac, Mac};
use sha2::Sha256;
use subtle::ConstantTimeEq;

/// The header that carries the hex MAC.
pub(crate) const HEADER: &str = "x-mammoth-peer-mac";

type HmacSha256 = Hmac<Sha256>;

/// The derived cluster key.
#[derive(Clone)]
pub struct ClusterKey([u8; 32]);

impl std::fmt::Debug for ClusterKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ClusterKey(..)")
    }
}

impl ClusterKey {
    /// Derives the cluster key from the server's JWT secret.
    pub fn derive(jwt_secret: &[u8]) -> ClusterKey {
        let mut mac = HmacSha256::new_from_slice(jwt_secret).expect("HMAC takes any key length");
        mac.update(b"mammoth cluster rpc v1");
        ClusterKey(mac.finalize().into_bytes().into())
    }

    fn mac(&self, path: &str, body: &[u8]) -> [u8; 32] {
        let mut mac = HmacSha256::new_from_slice(&self.0).expect("HMAC takes any key length");
        mac.update(path.as_bytes());
        mac.update(b"\n");
        mac.update(body);
        mac.finalize().into_bytes().into()
    }

    /// The header value for a request to `path` with `body`.
    pub(crate) fn sign(&self, path: &str, body: &[u8]) -> String {
        self.mac(path, body)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    }

    /// The header value for a request to `path` with `body` (for tests that speak to the peer
    /// port by hand).
    #[doc(hidden)]
    pub fn sign_for_test(&self, path: &str, body: &[u8]) -> String {
        self.sign(path, body)
    }

    /// The hop header's value for a request this node forwards to the owner: a MAC of the
    /// method, the path with its query, and the body, domain-separated from peer RPC MACs (their
    /// signed text starts with `/peer`, this one with `hop `).
    pub fn sign_hop(&self, method: &str, path_and_query: &str, body: &[u8]) -> String {
        self.sign(&format!("hop {method} {path_and_query}"), body)
    }

    /// Whether `header` is the hop MAC of this request (constant time).
    pub fn verify_hop(
        &self,
        method: &str,
        path_and_query: &str,
        body: &[u8],
        header: &[u8],
    ) -> bool {
        self.verify(&format!("hop {method} {path_and_query}"), body, header)
    }

    /// Whether `header` is the MAC of `path` and `body` (constant time).
    pub(crate) fn verify(&self, path: &str, body: &[u8], header: &[u8]) -> bool {
        let expected = self.sign(path, body);
        expected.as_bytes().ct_eq(header).into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_mac_verifies_only_for_its_key_path_and_body() {
        let key = ClusterKey::derive(b"secret");
        let mac = key.sign("/p", b"body");
        assert!(key.verify("/p", b"body", mac.as_bytes()));
        assert!(!key.verify("/p", b"bodY", mac.as_bytes()));
        assert!(!key.verify("/q", b"body", mac.as_bytes()));
        assert!(!ClusterKey::derive(b"other").verify("/p", b"body", mac.as_bytes()));
        assert!(!key.verify("/p", b"body", b""));
        let hop = key.sign_hop("POST", "/v1/x?a=1", b"body");
        assert!(key.verify_hop("POST", "/v1/x?a=1", b"body", hop.as_bytes()));
        assert!(!key.verify_hop("GET", "/v1/x?a=1", b"body", hop.as_bytes()));
        assert!(!key.verify_hop("POST", "/v1/x?a=2", b"body", hop.as_bytes()));
        assert!(!key.verify_hop("POST", "/v1/x?a=1", b"bod", hop.as_bytes()));
    }
}
