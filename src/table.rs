//! Tables that show themselves: aligned text through `Display` (the CLI,
//! logs) and an HTML table in the Rust Jupyter kernel (evcxr calls a value's
//! `evcxr_display` method when a cell ends with it). Reports build a
//! [`Table`] once, so the CLI and the notebooks print the same thing.

use std::fmt;

/// A titled table of text cells; numeric-looking cells are right-aligned.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Table {
    pub title: String,
    pub header: Vec<String>,
    pub rows: Vec<Vec<String>>,
    /// Lines printed under the table (summaries, readings).
    pub notes: Vec<String>,
}

impl Table {
    pub fn new(title: impl Into<String>, header: &[&str]) -> Self {
        Self {
            title: title.into(),
            header: header.iter().map(|h| h.to_string()).collect(),
            ..Default::default()
        }
    }

    pub fn row(&mut self, cells: Vec<String>) -> &mut Self {
        self.rows.push(cells);
        self
    }

    pub fn note(&mut self, line: impl Into<String>) -> &mut Self {
        self.notes.push(line.into());
        self
    }

    /// An HTML table (cells escaped), for notebooks and report pages.
    pub fn to_html(&self) -> String {
        let cell = |tag: &str, text: &str| {
            let align = if is_numeric(text) {
                " style=\"text-align:right\""
            } else {
                ""
            };
            format!("<{tag}{align}>{}</{tag}>", escape(text))
        };
        let mut h = String::from("<table>");
        if !self.title.is_empty() {
            h += &format!(
                "<caption style=\"text-align:left\"><b>{}</b></caption>",
                escape(&self.title)
            );
        }
        h += "<thead><tr>";
        self.header.iter().for_each(|c| h += &cell("th", c));
        h += "</tr></thead><tbody>";
        for r in &self.rows {
            h += "<tr>";
            r.iter().for_each(|c| h += &cell("td", c));
            h += "</tr>";
        }
        h += "</tbody></table>";
        for n in &self.notes {
            h += &format!("<p>{}</p>", escape(n));
        }
        h
    }

    /// A Markdown table of the header and rows (`|` in a cell escaped), as
    /// `docs/results.md` shows a report's table; title and notes are left
    /// to the prose around it.
    pub fn to_markdown(&self) -> String {
        let line = |cells: &[String]| {
            let cells: Vec<String> = cells.iter().map(|c| c.replace('|', "\\|")).collect();
            format!("| {} |\n", cells.join(" | "))
        };
        let mut md = line(&self.header);
        md += &format!("|{}\n", "---|".repeat(self.header.len()));
        self.rows.iter().for_each(|r| md += &line(r));
        md
    }

    /// Renders the table as HTML when it is the value a notebook cell ends with.
    pub fn evcxr_display(&self) {
        display_all(std::slice::from_ref(self))
    }
}

impl fmt::Display for Table {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let cols = self
            .header
            .len()
            .max(self.rows.iter().map(Vec::len).max().unwrap_or(0));
        let width = |i: usize| {
            std::iter::once(&self.header)
                .chain(&self.rows)
                .filter_map(|r| r.get(i))
                .map(|c| c.chars().count())
                .max()
                .unwrap_or(0)
        };
        let widths: Vec<usize> = (0..cols).map(width).collect();
        let line = |f: &mut fmt::Formatter<'_>, r: &[String]| -> fmt::Result {
            let cells: Vec<String> = widths
                .iter()
                .enumerate()
                .map(|(i, &w)| {
                    let c = r.get(i).map_or("", String::as_str);
                    match is_numeric(c) {
                        true => format!("{c:>w$}"),
                        false => format!("{c:<w$}"),
                    }
                })
                .collect();
            writeln!(f, "{}", cells.join("  ").trim_end())
        };
        if !self.title.is_empty() {
            writeln!(f, "{}", self.title)?;
        }
        line(f, &self.header)?;
        for r in &self.rows {
            line(f, r)?;
        }
        for n in &self.notes {
            writeln!(f, "{n}")?;
        }
        Ok(())
    }
}

/// Writes several tables as text, a blank line between them.
pub fn write_all(f: &mut fmt::Formatter<'_>, tables: &[Table]) -> fmt::Result {
    for (i, t) in tables.iter().enumerate() {
        if i > 0 {
            writeln!(f)?;
        }
        write!(f, "{t}")?;
    }
    Ok(())
}

/// Shows several tables as one HTML block in a notebook.
pub fn display_all(tables: &[Table]) {
    let html: String = tables.iter().map(Table::to_html).collect();
    println!("EVCXR_BEGIN_CONTENT text/html\n{html}\nEVCXR_END_CONTENT");
}

/// Gives report types `Display` (their tables as text: what the CLI prints)
/// and `evcxr_display` (as HTML: what a notebook cell ending with the value
/// shows), both from the type's inherent `fn tables(&self) -> Vec<Table>`.
#[macro_export]
macro_rules! show_tables {
    ($($t:ty),* $(,)?) => {$(
        impl std::fmt::Display for $t {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                $crate::table::write_all(f, &self.tables())
            }
        }
        impl $t {
            /// Shows the report's tables as HTML when a notebook cell ends with it.
            pub fn evcxr_display(&self) {
                $crate::table::display_all(&self.tables())
            }
        }
    )*};
}

/// Numbers, percentages, `a ± b` and `-` placeholders align right.
fn is_numeric(s: &str) -> bool {
    let s = s.trim();
    !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_digit() || " .-+%±e/x".contains(c))
        && s.chars().any(|c| c.is_ascii_digit() || c == '-')
}

/// `s` with `&`, `<` and `>` escaped for HTML text.
pub fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// `100 · x` with two decimals and a percent sign.
pub fn percent(x: f64) -> String {
    format!("{:.2}%", 100.0 * x)
}

/// An optional layer number, `-` when there is none.
pub fn layer(l: Option<usize>) -> String {
    l.map_or("-".into(), |l| l.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_and_html_show_the_same_cells() {
        let mut t = Table::new("t", &["name", "acc"]);
        t.row(vec!["a<b".into(), percent(0.5)]).note("done");
        assert_eq!(t.to_string(), "t\nname  acc\na<b   50.00%\ndone\n");
        let h = t.to_html();
        assert!(
            h.contains("<td>a&lt;b</td>") && h.contains("50.00%") && h.contains("<p>done</p>"),
            "{h}"
        );
    }
}
