//! Escaping untrusted text for GitHub-flavoured markdown.
//!
//! The report quotes text the action does not control: pod logs, event and scheduler messages, image names,
//! registry errors. Posted unescaped into a PR comment, a log line could open an HTML tag, break the table it
//! sits in, or `@mention` half the organisation. GitHub resolves mentions and `#123` references on the rendered
//! text, after entities are decoded, so `&#64;` is not enough: a zero-width joiner after `@` and `#` is what
//! keeps the text readable while breaking the link. Inside fenced code nothing is interpreted, so code blocks
//! only need a fence longer than any backtick run in the content.

/// Zero-width joiner: invisible, but it splits `@name` and `#123` so GitHub links neither.
const ZWJ: char = '\u{200D}';

/// Escapes text for markdown prose and table cells: HTML specials become entities, markdown punctuation is
/// backslash-escaped, mentions and issue references are broken, and line breaks become spaces (a newline would
/// end a table row or a list item).
pub fn inline(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + text.len() / 8);
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '@' | '#' => {
                out.push(c);
                out.push(ZWJ);
            }
            '\\' | '`' | '*' | '_' | '[' | ']' | '(' | ')' | '{' | '}' | '!' | '|' | '~' | '+'
            | '-' | '=' | '"' | '\'' | '.' => {
                // Only a few of these matter in any one position, but escaping every ASCII punctuation
                // mark GFM allows to be escaped is simpler than knowing where a line starts.
                if matches!(c, '.' | '-' | '=' | '+' | '"' | '\'') {
                    // Harmless mid-word; escaping them would make versions like `1.2.3` unreadable in
                    // a browser that shows the source. They only matter at a line start, which `\n`
                    // removal below rules out, except for the very first character.
                    if out.is_empty() {
                        out.push('\\');
                    }
                    out.push(c);
                } else {
                    out.push('\\');
                    out.push(c);
                }
            }
            '\r' => {
                if chars.peek() != Some(&'\n') {
                    out.push(' ');
                }
            }
            '\n' => out.push(' '),
            c if c.is_control() => out.push('\u{FFFD}'),
            c => out.push(c),
        }
    }
    out
}

/// Like [`inline`], but text between a pair of backticks becomes a code span (through [`code`]): the
/// diagnosis writes fixes such as "set `max_surge: 0`" and they should read as code, while anything else is
/// still escaped. With an odd number of backticks the whole text is treated as prose.
pub fn prose(text: &str) -> String {
    let parts: Vec<&str> = text.split('`').collect();
    if parts.len().is_multiple_of(2) {
        return inline(text);
    }
    parts
        .iter()
        .enumerate()
        .map(|(i, part)| {
            if i % 2 == 1 && !part.is_empty() {
                code(part)
            } else {
                inline(part)
            }
        })
        .collect()
}

/// An inline code span for a value such as an image name: nothing inside is interpreted, so only the
/// delimiters and line breaks need care. `|` is still escaped because GFM splits table cells before it
/// parses code spans.
pub fn code(text: &str) -> String {
    let flat: String = text
        .chars()
        .map(|c| {
            if c == '\n' || c == '\r' || c.is_control() {
                ' '
            } else {
                c
            }
        })
        .collect();
    let flat = flat.replace('|', "\\|");
    let ticks = "`".repeat(longest_backtick_run(&flat) + 1);
    // A code span that starts or ends with a backtick needs a space between it and the delimiter.
    let pad = if flat.starts_with('`') || flat.ends_with('`') || flat.is_empty() {
        " "
    } else {
        ""
    };
    format!("{ticks}{pad}{flat}{pad}{ticks}")
}

/// A fenced code block whose fence is longer than any backtick run in `content`, so the content cannot
/// close it early. `info` is a language tag such as `text`.
pub fn code_block(content: &str, info: &str) -> String {
    let fence = "`".repeat((longest_backtick_run(content) + 1).max(3));
    let content = content.replace('\r', "");
    let mut out = String::with_capacity(content.len() + 2 * fence.len() + info.len() + 4);
    out.push_str(&fence);
    out.push_str(info);
    out.push('\n');
    out.push_str(&content);
    if !content.ends_with('\n') {
        out.push('\n');
    }
    out.push_str(&fence);
    out.push('\n');
    out
}

/// Text safe inside an HTML comment (`<!-- ... -->`): no `--` and no `>`.
pub fn html_comment(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut prev = ' ';
    for c in text.chars() {
        let safe = match c {
            '-' if prev == '-' => '_',
            '>' | '<' | '!' => '_',
            c if c.is_control() => '_',
            c => c,
        };
        out.push(safe);
        prev = safe;
    }
    out
}

fn longest_backtick_run(text: &str) -> usize {
    let mut longest = 0;
    let mut current = 0;
    for c in text.chars() {
        if c == '`' {
            current += 1;
            longest = longest.max(current);
        } else {
            current = 0;
        }
    }
    longest
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn html_is_neutralised() {
        assert_eq!(
            inline("<script>alert(1)</script>"),
            "&lt;script&gt;alert\\(1\\)&lt;/script&gt;"
        );
        assert_eq!(inline("a & b"), "a &amp; b");
    }

    #[test]
    fn mentions_and_references_are_broken() {
        let out = inline("ping @octocat about #12");
        assert!(!out.contains("@octocat"), "{out}");
        assert!(!out.contains("#12"), "{out}");
        assert!(out.contains("@\u{200D}octocat"));
    }

    #[test]
    fn pipes_and_newlines_cannot_break_a_table_row() {
        let out = inline("| a | b |\n| c |");
        assert!(!out.contains('\n'));
        assert_eq!(out.matches('|').count(), out.matches("\\|").count());
    }

    #[test]
    fn markdown_emphasis_and_links_are_escaped() {
        assert_eq!(inline("**x** [y](z)"), "\\*\\*x\\*\\* \\[y\\]\\(z\\)");
    }

    #[test]
    fn versions_stay_readable() {
        assert_eq!(
            inline("registry.io/api:1.2.3-rc"),
            "registry.io/api:1.2.3-rc"
        );
    }

    #[test]
    fn prose_keeps_code_spans_and_escapes_the_rest() {
        assert_eq!(
            prose("set `max_surge: 0` for @octocat"),
            "set `max_surge: 0` for @\u{200D}octocat"
        );
        assert_eq!(prose("a `<b>|x` b"), "a `<b>\\|x` b");
        // An unpaired backtick is escaped like any other.
        assert_eq!(prose("it`s"), "it\\`s");
    }

    #[test]
    fn code_span_outgrows_backticks_in_the_value() {
        assert_eq!(code("nginx:1.25"), "`nginx:1.25`");
        assert_eq!(code("a``b"), "```a``b```");
        assert_eq!(code("`x"), "`` `x ``");
        assert_eq!(code("a|b"), "`a\\|b`");
    }

    #[test]
    fn code_block_fence_outgrows_any_backtick_run() {
        let block = code_block("before\n```\n<b>@octocat</b>\n`````\nafter", "text");
        let first = block.lines().next().unwrap();
        assert_eq!(first, "``````text");
        assert_eq!(block.lines().last().unwrap(), "``````");
        // The content is kept verbatim: inside a fence it is not interpreted.
        assert!(block.contains("<b>@octocat</b>"));
    }

    #[test]
    fn html_comment_text_cannot_close_the_comment() {
        assert_eq!(html_comment("ns/rc-->x"), "ns/rc-__x");
        assert_eq!(html_comment("api-rc"), "api-rc");
    }
}
