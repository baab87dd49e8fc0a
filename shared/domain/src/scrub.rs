//! Text from outside (a provider's error body, a store's error detail) made fit for a log line:
//! anything that looks like a secret or personal data is replaced, control characters are
//! dropped and the length is capped. Customers never see this text at all; logs see it only
//! through here.

/// Longest scrubbed text, in characters.
pub const MAX_CHARS: usize = 300;

/// `text` with API keys, JWTs, long hex or base64 tokens, phone numbers and e-mail addresses
/// replaced by `[redacted]`, control characters dropped, cut to [`MAX_CHARS`].
pub fn scrub(text: &str) -> String {
    let mut out = String::with_capacity(text.len().min(MAX_CHARS));
    for (i, word) in text
        .split(|c: char| c.is_whitespace() || c.is_control())
        .enumerate()
    {
        if i > 0 {
            out.push(' ');
        }
        out.push_str(&scrub_word(word));
        if out.chars().count() > MAX_CHARS {
            break;
        }
    }
    if out.chars().count() > MAX_CHARS {
        out = out.chars().take(MAX_CHARS).collect();
        out.push('…');
    }
    out
}

fn scrub_word(word: &str) -> String {
    // Split off punctuation that JSON and prose put around a token.
    let core = word.trim_matches(|c: char| "\"'(),;:[]{}<>".contains(c));
    if core.is_empty() || !looks_secret(core) {
        return word.to_string();
    }
    word.replace(core, "[redacted]")
}

fn looks_secret(s: &str) -> bool {
    let lower = s.to_ascii_lowercase();
    if lower.contains("bvai_") || lower.contains("key_") || lower.starts_with("eyj") {
        return true;
    }
    if s.contains('@') && s.contains('.') {
        return true;
    }
    let digits = s.chars().filter(char::is_ascii_digit).count();
    // Phone numbers (+15551234567, 555-123-4567): seven or more digits in a short token.
    if digits >= 7
        && s.chars()
            .all(|c| c.is_ascii_digit() || "+-.()/".contains(c))
    {
        return true;
    }
    // Long tokens of letters and digits (hex digests, base64 keys, signatures).
    let tokenish = s
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || "-_=+/.".contains(c));
    tokenish && s.len() >= 24 && digits > 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_and_personal_data_are_redacted() {
        let text = "invalid api key bvai_live_abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG for \
                    +15551234567 (x@example.com) token eyJhbGciOiJIUzI1NiJ9.e30.abc \
                    d=0123456789abcdef0123456789abcdef key_3f9a8b7c6d";
        let out = scrub(text);
        for secret in [
            "bvai_live_",
            "5551234567",
            "x@example.com",
            "eyJhbGci",
            "0123456789abcdef",
            "key_3f9a",
        ] {
            assert!(!out.contains(secret), "{secret} in {out}");
        }
        assert!(
            out.starts_with("invalid api key [redacted] for [redacted]"),
            "{out}"
        );
    }

    #[test]
    fn ordinary_words_stay_and_length_is_capped() {
        assert_eq!(scrub("agent not found"), "agent not found");
        assert_eq!(scrub("status 404"), "status 404");
        let long = "word ".repeat(200);
        assert!(scrub(&long).chars().count() <= MAX_CHARS + 1);
        assert!(!scrub("a\u{0}b\nc").contains('\n'));
    }
}
