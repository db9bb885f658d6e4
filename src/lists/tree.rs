//! A list's items by level: the inline tree and the CSV file are read into [`Row`]s, each
//! an item with the long code of its parents.
//!
//! CSV formats (header names case-insensitive, `#` lines are comments, a UTF-8 byte-order
//! mark is ignored):
//!
//! * one column per level: `level1,level2,…,label[,label_de,…]`; a row's last filled level
//!   column is the item's code, the columns before it its parents (`P100,DES,Design`);
//! * a parent column: `code,parent,label[,label_de,…]`; `parent` holds the parents' codes
//!   joined with `-` (`P100`), empty for the first level.
//!
//! `label_<language>` columns translate the label (`label_de`, `label_fr-ca`); an empty
//! cell falls back to `label`, an empty `label` to the code. A code may not contain `-`,
//! the separator of the levels in Concur's long codes.

use std::collections::{BTreeMap, HashSet};

use concur_protocol::callout::fetch_list::LEVEL_SEPARATOR;

use super::settings::TreeItem;
use crate::checks::Problems;
use crate::values::csv_file;

/// One item at its level.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Node {
    pub code: String,
    pub label: String,
    /// Translations by lower-case language code.
    pub labels: BTreeMap<String, String>,
}

impl Node {
    /// The label in `lang` (`de-ch` falls back to `de`), else the default label.
    pub fn label_in(&self, lang: Option<&str>) -> &str {
        let Some(lang) = lang else {
            return &self.label;
        };
        let primary = lang.split('-').next().unwrap_or(lang);
        self.labels
            .get(lang)
            .or_else(|| self.labels.get(primary))
            .unwrap_or(&self.label)
    }
}

/// One item and where it sits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Row {
    /// The parents' codes joined with `-`, lower-case (`""` for the first level).
    parents: String,
    pub node: Node,
}

/// The items whose parents are exactly these codes (compared ignoring case), in the order
/// they were given. `rows` are sorted by their parents (a [`Tree`] keeps them so), so the
/// siblings are found by binary search, not by reading every row of a large list.
pub(crate) fn children<'a>(rows: &'a [Row], parents: &[String]) -> impl Iterator<Item = &'a Node> {
    let key = key(parents);
    let start = rows.partition_point(|r| r.parents < key);
    rows[start..]
        .iter()
        .take_while(move |r| r.parents == key)
        .map(|r| &r.node)
}

/// A list's items, with each code unique among its siblings (ignoring case).
#[derive(Debug, Default)]
pub(crate) struct Tree {
    pub rows: Vec<Row>,
    seen: HashSet<(String, String)>,
}

impl Tree {
    /// The rows sorted by their parents, siblings in the order given (a stable sort), as
    /// [`children`] needs them.
    fn sorted(mut self) -> Self {
        self.rows.sort_by(|a, b| a.parents.cmp(&b.parents));
        self
    }

    fn insert(&mut self, parents: &[String], node: Node) -> Result<(), String> {
        let parents = key(parents);
        if !self
            .seen
            .insert((parents.clone(), node.code.to_lowercase()))
        {
            return Err(format!(
                "the code `{}` appears twice at this level",
                node.code
            ));
        }
        self.rows.push(Row { parents, node });
        Ok(())
    }

    /// The inline tree of `[[…items]]`, a problem per bad item (keyed by its place).
    pub fn inline(items: &[TreeItem], key: &str, problems: &mut Problems) -> Self {
        let mut tree = Self::default();
        tree.add_inline(&mut Vec::new(), items, key, problems);
        tree.sorted()
    }

    fn add_inline(
        &mut self,
        parents: &mut Vec<String>,
        items: &[TreeItem],
        key: &str,
        problems: &mut Problems,
    ) {
        for (index, item) in items.iter().enumerate() {
            let key = format!("{key}.items[{index}]");
            let labels = item
                .labels
                .iter()
                .map(|(lang, label)| {
                    (
                        lang.trim().to_ascii_lowercase().replace('_', "-"),
                        label.trim().to_owned(),
                    )
                })
                .collect();
            let node = match node(&item.code, &item.label, labels) {
                Ok(node) => node,
                Err(error) => {
                    problems.push(format!("{key}.code"), error);
                    continue;
                }
            };
            let code = node.code.clone();
            if let Err(error) = self.insert(parents, node) {
                problems.push(format!("{key}.code"), error);
                continue;
            }
            parents.push(code);
            self.add_inline(parents, &item.items, &key, problems);
            parents.pop();
        }
    }
}

fn key(parents: &[String]) -> String {
    parents.join("-").to_lowercase()
}

/// A checked node: a trimmed, non-empty code without `-` or control characters.
fn node(code: &str, label: &str, labels: BTreeMap<String, String>) -> Result<Node, String> {
    let code = code.trim();
    if code.is_empty() {
        return Err("the code is empty".to_owned());
    }
    if code.contains(LEVEL_SEPARATOR) {
        return Err(format!(
            "the code `{code}` contains `{LEVEL_SEPARATOR}`, which separates the levels in \
             Concur's long codes; use another character"
        ));
    }
    if code.chars().any(char::is_control) {
        return Err("the code contains control characters".to_owned());
    }
    let label = match label.trim() {
        "" => code,
        label => label,
    };
    Ok(Node {
        code: code.to_owned(),
        label: label.to_owned(),
        labels: labels.into_iter().filter(|(_, l)| !l.is_empty()).collect(),
    })
}

/// Reads either CSV format; the first bad row fails the file, naming its line.
pub(crate) fn parse_csv(bytes: &[u8]) -> Result<Vec<Row>, String> {
    parse_tree(bytes).map(|tree| tree.rows)
}

fn parse_tree(bytes: &[u8]) -> Result<Tree, String> {
    let (mut reader, headers) = csv_file::reader(bytes)?;
    let headers: Vec<String> = headers.iter().map(|h| h.to_lowercase()).collect();
    csv_file::check_headers(&headers, |_| Ok(()))?;
    let column = |name: &str| headers.iter().position(|h| h == name);
    let label = column("label");
    let languages: Vec<(usize, String)> = headers
        .iter()
        .enumerate()
        .filter_map(|(i, h)| Some((i, h.strip_prefix("label_")?.replace('_', "-"))))
        .collect();
    let mut levels = Vec::new();
    while let Some(i) = column(&format!("level{}", levels.len() + 1)) {
        levels.push(i);
    }
    let layout = match (levels.is_empty(), column("code")) {
        (false, None) => Layout::Levels(levels),
        (true, Some(code)) => Layout::Parent {
            code,
            parent: column("parent"),
        },
        _ => {
            return Err(
                "the header row must name either level columns (level1, level2, …) or a \
                 `code` column (with an optional `parent` column)"
                    .to_owned(),
            );
        }
    };

    let mut tree = Tree::default();
    for record in reader.records() {
        let record = record.map_err(|e| e.to_string())?;
        let line = csv_file::line(&record);
        let at = |error: String| format!("line {line}: {error}");
        let cell = |i: usize| record.get(i).unwrap_or_default();
        let (mut parents, code) = match &layout {
            Layout::Levels(levels) => {
                let filled: Vec<&str> = levels.iter().map(|&i| cell(i)).collect();
                let depth = filled.iter().take_while(|c| !c.is_empty()).count();
                if depth == 0 {
                    return Err(at("level1 is empty".to_owned()));
                }
                if filled[depth..].iter().any(|c| !c.is_empty()) {
                    return Err(at(format!(
                        "level{} is empty but a later level is not",
                        depth + 1
                    )));
                }
                let parents = filled[..depth - 1]
                    .iter()
                    .map(|c| (*c).to_owned())
                    .collect();
                (parents, filled[depth - 1])
            }
            Layout::Parent { code, parent } => {
                let parents = parent
                    .map(cell)
                    .unwrap_or_default()
                    .split(LEVEL_SEPARATOR)
                    .map(str::trim)
                    .filter(|c| !c.is_empty())
                    .map(str::to_owned)
                    .collect::<Vec<_>>();
                (parents, cell(*code))
            }
        };
        let labels = languages
            .iter()
            .map(|(i, lang)| (lang.clone(), cell(*i).to_owned()))
            .collect();
        let node = node(code, label.map(cell).unwrap_or_default(), labels).map_err(at)?;
        for parent in &mut parents {
            if parent.chars().any(char::is_control) {
                return Err(at("a parent code contains control characters".to_owned()));
            }
            *parent = parent.trim().to_owned();
        }
        tree.insert(&parents, node).map_err(at)?;
    }
    Ok(tree.sorted())
}

enum Layout {
    /// The columns of `level1`, `level2`, … in level order.
    Levels(Vec<usize>),
    Parent {
        code: usize,
        parent: Option<usize>,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    fn codes(tree: &Tree, parents: &[&str]) -> Vec<String> {
        let parents: Vec<String> = parents.iter().map(|p| (*p).to_owned()).collect();
        children(&tree.rows, &parents)
            .map(|n| n.code.clone())
            .collect()
    }

    #[test]
    fn reads_level_columns_with_translations() {
        let csv = "\u{feff}Level1,level2,label,Label_DE\n# comment\n\
                   P100,,Apollo website relaunch,Apollo Website-Relaunch\n\
                   P100,DES,Design,\nP200,,Borealis,\np100,BLD,Build,Bauen\n";
        let tree = parse_tree(csv.as_bytes()).unwrap();
        assert_eq!(codes(&tree, &[]), ["P100", "P200"]);
        assert_eq!(codes(&tree, &["P100"]), ["DES", "BLD"]);
        let apollo = children(&tree.rows, &[]).next().unwrap();
        assert_eq!(apollo.label_in(Some("de")), "Apollo Website-Relaunch");
        assert_eq!(apollo.label_in(Some("de-ch")), "Apollo Website-Relaunch");
        assert_eq!(apollo.label_in(Some("fr")), "Apollo website relaunch");
        let design = children(&tree.rows, &["P100".into()]).next().unwrap();
        assert_eq!(design.label_in(Some("de")), "Design");
        assert_eq!(tree.rows.len(), 4);
    }

    #[test]
    fn reads_a_parent_column() {
        let csv = "code,parent,label\nUS,,United States\nW,US,West\nCA,US-W,California\nSF,us-w-ca,San Francisco\n";
        let tree = parse_tree(csv.as_bytes()).unwrap();
        assert_eq!(codes(&tree, &["US", "W", "CA"]), ["SF"]);
        assert_eq!(codes(&tree, &[]), ["US"]);
        let single = parse_tree(b"code,label\nA,Alpha\n").unwrap();
        assert_eq!(codes(&single, &[]), ["A"]);
    }

    #[test]
    fn a_code_with_the_level_separator_is_refused_naming_the_line() {
        for csv in [
            "level1,label\nA,Alpha\nB-1,Beta\n",
            "code,parent,label\nA,,Alpha\nB-1,A,Beta\n",
        ] {
            let error = parse_tree(csv.as_bytes()).unwrap_err();
            assert!(
                error.starts_with("line 3:") && error.contains("`B-1` contains `-`"),
                "{error}"
            );
        }
        let mut problems = Problems::default();
        let items = [TreeItem {
            code: "P100".into(),
            items: vec![TreeItem {
                code: "D-1".into(),
                ..TreeItem::default()
            }],
            ..TreeItem::default()
        }];
        Tree::inline(&items, "fetch_list.lists[0]", &mut problems);
        let problems = problems.into_vec();
        assert_eq!(problems.len(), 1);
        assert_eq!(
            problems[0].key,
            "fetch_list.lists[0].items[0].items[0].code"
        );
        assert!(problems[0].message.contains("`D-1` contains `-`"));
    }

    #[test]
    fn bad_files_are_refused_with_a_reason() {
        for (csv, why) in [
            ("name,label\nA,B\n", "level columns"),
            ("level1,code,label\nA,B,C\n", "level columns"),
            ("level1,label\n,B\n", "line 2: level1 is empty"),
            (
                "level1,level2,level3,label\nA,,C,x\n",
                "line 2: level2 is empty",
            ),
            (
                "code,label\nA,x\na,y\n",
                "line 3: the code `a` appears twice",
            ),
            ("code,label,label\nA,x,y\n", "appears twice in the header"),
            ("code,label\nA,B,C\n", "fields"),
        ] {
            let error = parse_tree(csv.as_bytes()).unwrap_err();
            assert!(error.contains(why), "{csv:?}: {error}");
        }
    }
}
