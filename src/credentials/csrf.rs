//! Cross-site request forgery defences for cookie-authenticated requests: the request must come
//! from the public URL's origin (`Origin`, or `Referer` when a browser omits it), and carry the
//! session's synchronizer token (a hidden form field, or `X-CSRF-Token` on admin API calls).
//! Root-token requests carry no cookie and are exempt.

use axum::http::HeaderMap;
use axum::http::header::{ORIGIN, REFERER};
use subtle::ConstantTimeEq;

use crate::operators::OperatorSession;

/// Refuses a request whose `Origin` (or, lacking it, `Referer`) is not `public_url`'s origin.
pub(crate) fn check_origin(headers: &HeaderMap, public_url: &str) -> Result<(), &'static str> {
    let Ok(expected) = url::Url::parse(public_url).map(|u| u.origin().ascii_serialization()) else {
        return Err("the server's public URL is not a valid URL");
    };
    let origin = headers.get(ORIGIN).and_then(|v| v.to_str().ok());
    let referer = headers.get(REFERER).and_then(|v| v.to_str().ok());
    let seen = match (origin, referer) {
        (Some(origin), _) => origin.to_owned(),
        (None, Some(referer)) => match url::Url::parse(referer) {
            Ok(url) => url.origin().ascii_serialization(),
            Err(_) => return Err("cross-site request refused: the Referer is not a URL"),
        },
        (None, None) => {
            return Err("cross-site request refused: the request has no Origin or Referer header");
        }
    };
    if seen == expected {
        Ok(())
    } else {
        Err("cross-site request refused: it does not come from this server's origin")
    }
}

/// Refuses a request whose synchronizer token is not the session's.
pub(crate) fn check_token(session: &OperatorSession, token: &str) -> Result<(), &'static str> {
    if !token.is_empty() && bool::from(token.as_bytes().ct_eq(session.csrf.as_bytes())) {
        Ok(())
    } else {
        Err("cross-site request refused: the CSRF token is missing or wrong; reload the page")
    }
}
