//! A completion's text as it grows, cut at its first stop string: each
//! update releases what can no longer turn out to be the start of a stop
//! string (and is whole characters), so a streamed reply never shows a stop
//! string or part of one.

pub struct StopText {
    stops: Vec<String>,
    /// The latest decoded text, and how much of it has been released.
    text: String,
    shown: usize,
}

impl StopText {
    pub fn new(stops: Vec<String>) -> StopText {
        let stops = stops.into_iter().filter(|s| !s.is_empty()).collect();
        StopText { stops, text: String::new(), shown: 0 }
    }

    /// Takes the whole text decoded so far; returns the newly released part,
    /// and whether a stop string has ended the completion.
    pub fn update(&mut self, text: &str) -> (String, bool) {
        self.text = text.to_string();
        if let Some(at) = self.stops.iter().filter_map(|s| text.find(s.as_str())).min() {
            self.text.truncate(at);
            return (self.flush(), true);
        }
        // Hold back an incomplete character and the longest tail that a stop string starts with.
        let mut end = text.len();
        if text.ends_with('\u{FFFD}') {
            end -= '\u{FFFD}'.len_utf8();
        }
        let held = (self.stops.iter())
            .flat_map(|s| (1..s.len()).rev().filter(|&n| s.is_char_boundary(n)).map(move |n| &s[..n]))
            .filter(|p| text[..end].ends_with(p))
            .map(str::len)
            .max()
            .unwrap_or(0);
        end -= held;
        self.release(end)
    }

    /// Everything not yet released (the completion has ended).
    pub fn flush(&mut self) -> String {
        self.release(self.text.len()).0
    }

    fn release(&mut self, end: usize) -> (String, bool) {
        if end <= self.shown || !self.text.is_char_boundary(self.shown) || !self.text.is_char_boundary(end) {
            return (String::new(), false);
        }
        let piece = self.text[self.shown..end].to_string();
        self.shown = end;
        (piece, false)
    }
}

#[cfg(test)]
mod tests {
    use super::StopText;

    /// Feeds growing prefixes of `full`; returns the released pieces joined and whether it stopped.
    fn feed(stops: &[&str], steps: &[&str]) -> (Vec<String>, bool) {
        let mut t = StopText::new(stops.iter().map(|s| s.to_string()).collect());
        let mut out = Vec::new();
        for s in steps {
            let (piece, stop) = t.update(s);
            out.push(piece);
            if stop {
                return (out, true);
            }
        }
        out.push(t.flush());
        (out, false)
    }

    #[test]
    fn releases_text_that_cannot_start_a_stop_string() {
        let (out, stopped) = feed(&["END"], &["a", "ab E", "ab EN", "ab ENx", "ab ENxy"]);
        assert!(!stopped);
        assert_eq!(out, ["a", "b ", "", "ENx", "y", ""]);
        let (out, stopped) = feed(&["END", "\n\n"], &["one", "one E", "one EN", "one END and more"]);
        assert!(stopped);
        assert_eq!(out.concat(), "one ");
        let (out, stopped) = feed(&["\n"], &["x\ny"]);
        assert!(stopped);
        assert_eq!(out.concat(), "x");
        // An incomplete character waits for the rest; without stop strings nothing else is held.
        let (out, _) = feed(&[], &["é\u{FFFD}", "éa"]);
        assert_eq!(out, ["é", "a", ""]);
    }
}
