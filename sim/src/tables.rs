//! Plain text tables for the terminal: columns sized to their widest cell,
//! no borders, so they read well and diff well.

use comfy_table::{CellAlignment, ContentArrangement, Table, presets::NOTHING};

/// A table with `header`; columns named in `right` are right-aligned.
pub(crate) fn table(header: &[&str], right: &[&str]) -> Table {
    let mut table = Table::new();
    table
        .load_preset(NOTHING)
        .set_content_arrangement(ContentArrangement::Disabled)
        .set_header(header.iter().copied());
    for (index, name) in header.iter().enumerate() {
        if let Some(column) = table.column_mut(index) {
            // Two spaces between columns, none before the first.
            column.set_padding((0, 2));
            if right.contains(name) {
                column.set_cell_alignment(CellAlignment::Right);
            }
        }
    }
    table
}

/// The table as lines, trailing spaces trimmed, ending in a newline.
pub(crate) fn render(table: &Table) -> String {
    let mut out = String::new();
    for line in table.lines() {
        out += line.trim_end();
        out.push('\n');
    }
    out
}
