//! An OCSF event validator over the schema's own source files
//! (`tests/data/ocsf/`, a copy of ocsf/ocsf-schema at release 1.8.0).
//!
//! It compiles classes and objects as the OCSF server does (`extends`
//! chains and `$include`d profiles deep-merged, each attribute merged over
//! its dictionary entry, later definitions winning, an explicit `null`
//! included) and checks a record as the server's validator does
//! (`Schema.Validator2`): the class from `class_uid`; attributes of a
//! profile only when `metadata.profiles` names it; required attributes;
//! every value's type from the dictionary (string, integer (32-bit), long,
//! timestamp, float, boolean, JSON, `max_len` and `range`), arrays, enums
//! (`_id` values and their captioned siblings), objects recursively with
//! their `at_least_one` / `just_one` constraints; no attribute the schema
//! does not define (an object with no attributes, such as `unmapped`'s,
//! takes any); `type_uid` = `class_uid` * 100 + `activity_id`; and
//! `metadata.version` equal to the schema's. What the server only warns
//! about (a sibling caption that differs, a deprecated attribute) is an
//! error here: sigil writes what it knows exactly. Not checked: the
//! dictionary's regular expressions (warnings on the server) and
//! observables (sigil writes none).

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use serde_json::{Map, Value};

/// The schema, compiled for validation.
pub struct Schema {
    version: String,
    types: Map<String, Value>,
    classes: HashMap<i64, Compiled>,
    objects: HashMap<String, Compiled>,
    profiles: Vec<String>,
}

/// A class or an object: its attributes, resolved.
struct Compiled {
    name: String,
    attributes: BTreeMap<String, Map<String, Value>>,
    constraints: Option<Map<String, Value>>,
}

impl Schema {
    /// Compiles the schema under `dir` for the event classes `classes`
    /// (paths under `events/`, each with its `extends` chain present).
    pub fn load(dir: &Path, classes: &[&str]) -> Schema {
        let read = |path: PathBuf| -> Value {
            let text = std::fs::read_to_string(&path)
                .unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
            serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        };
        let version = read(dir.join("version.json"))["version"]
            .as_str()
            .unwrap()
            .to_owned();
        let dictionary = read(dir.join("dictionary.json"));
        let dict_attrs = dictionary["attributes"].as_object().unwrap().clone();
        let types = dictionary["types"]["attributes"]
            .as_object()
            .unwrap()
            .clone();
        let categories = read(dir.join("categories.json"));

        let mut raw_objects = HashMap::new();
        for entry in std::fs::read_dir(dir.join("objects")).unwrap() {
            let v = read(entry.unwrap().path());
            raw_objects.insert(v["name"].as_str().unwrap().to_owned(), v);
        }
        let mut profiles = Vec::new();
        for entry in std::fs::read_dir(dir.join("profiles")).unwrap() {
            let v = read(entry.unwrap().path());
            profiles.push(v["name"].as_str().unwrap().to_owned());
        }
        let mut raw_classes = HashMap::new();
        for path in classes {
            let v = read(dir.join("events").join(path));
            raw_classes.insert(v["name"].as_str().unwrap().to_owned(), v);
        }

        let compiler = Compiler {
            dir,
            dict: &dict_attrs,
        };
        let objects = raw_objects
            .keys()
            .map(|name| (name.clone(), compiler.resolve(name, &raw_objects)))
            .collect();
        let mut compiled_classes = HashMap::new();
        for (name, raw) in &raw_classes {
            let Some(uid) = raw["uid"].as_i64() else {
                continue; // an abstract class (base_event, finding)
            };
            let category = raw_category(name, &raw_classes);
            let category_uid = categories["attributes"][&category]["uid"]
                .as_i64()
                .unwrap_or_else(|| panic!("class {name}: category {category} unknown"));
            let class_uid = category_uid * 1000 + uid;
            let mut class = compiler.resolve(name, &raw_classes);
            // The server gives each class the enums only it can: its own
            // uid, its category's, and the type_uid of each activity.
            let caption = raw_classes[name]["caption"].clone();
            let enum_of = |pairs: Vec<(i64, Value)>| {
                Value::Object(
                    pairs
                        .into_iter()
                        .map(|(k, c)| (k.to_string(), serde_json::json!({ "caption": c })))
                        .collect(),
                )
            };
            let activities: Vec<(i64, Value)> = class.attributes["activity_id"]["enum"]
                .as_object()
                .unwrap()
                .iter()
                .map(|(k, v)| {
                    let text = format!(
                        "{}: {}",
                        caption.as_str().unwrap(),
                        v["caption"].as_str().unwrap()
                    );
                    (
                        class_uid * 100 + k.parse::<i64>().unwrap(),
                        Value::String(text),
                    )
                })
                .collect();
            for (attr, values) in [
                ("class_uid", vec![(class_uid, caption.clone())]),
                (
                    "category_uid",
                    vec![(
                        category_uid,
                        categories["attributes"][&category]["caption"].clone(),
                    )],
                ),
                ("type_uid", activities),
            ] {
                class
                    .attributes
                    .get_mut(attr)
                    .unwrap()
                    .insert("enum".into(), enum_of(values));
            }
            compiled_classes.insert(class_uid, class);
        }
        Schema {
            version,
            types,
            classes: compiled_classes,
            objects,
            profiles,
        }
    }

    /// The schema's version (`version.json`).
    pub fn version(&self) -> &str {
        &self.version
    }

    /// Every error in `record`, each `path: what`; empty when it is valid.
    pub fn validate(&self, record: &Value) -> Vec<String> {
        let mut errors = Vec::new();
        let Some(map) = record.as_object() else {
            return vec!["the record is not a JSON object".into()];
        };
        let Some(class) = map
            .get("class_uid")
            .and_then(Value::as_i64)
            .and_then(|uid| self.classes.get(&uid))
        else {
            return vec![format!(
                "class_uid: {:?} is no class of this schema",
                map.get("class_uid")
            )];
        };
        let mut profiles = Vec::new();
        if let Some(list) = record["metadata"]["profiles"].as_array() {
            for p in list {
                match p.as_str() {
                    Some(name) if self.profiles.iter().any(|k| k == name) => {
                        profiles.push(name.to_owned());
                    }
                    _ => errors.push(format!("metadata.profiles: unknown profile {p}")),
                }
            }
        }
        let check = Check {
            schema: self,
            profiles: &profiles,
        };
        check.object(map, class, "", &mut errors);
        if let (Some(c), Some(a), Some(t)) = (
            map.get("class_uid").and_then(Value::as_i64),
            map.get("activity_id").and_then(Value::as_i64),
            map.get("type_uid").and_then(Value::as_i64),
        ) && t != c * 100 + a
        {
            errors.push(format!(
                "type_uid: {t}, expected class_uid * 100 + activity_id = {}",
                c * 100 + a
            ));
        }
        match record["metadata"]["version"].as_str() {
            Some(v) if v == self.version => {}
            other => errors.push(format!(
                "metadata.version: {other:?}, the schema is {}",
                self.version
            )),
        }
        errors
    }
}

/// A class's category, following `extends` (only the top class names it).
fn raw_category(name: &str, raw: &HashMap<String, Value>) -> String {
    let class = &raw[name];
    match (class["category"].as_str(), class["extends"].as_str()) {
        (Some(c), _) => c.to_owned(),
        (None, Some(parent)) => raw_category(parent, raw),
        (None, None) => panic!("class {name} has no category"),
    }
}

struct Compiler<'a> {
    dir: &'a Path,
    dict: &'a Map<String, Value>,
}

impl Compiler<'_> {
    /// `name`'s attributes: its parent's, then its includes', then its
    /// own, each merged over the one before; finally over the dictionary.
    fn resolve(&self, name: &str, raw: &HashMap<String, Value>) -> Compiled {
        let (attributes, constraints) = self.merged_attributes(name, raw);
        let attributes = attributes
            .into_iter()
            .map(|(attr, def)| {
                let mut full = self
                    .dict
                    .get(&attr)
                    .and_then(Value::as_object)
                    .unwrap_or_else(|| panic!("{name}.{attr} is not in the dictionary"))
                    .clone();
                deep_merge_map(&mut full, def.as_object().cloned().unwrap_or_default());
                (attr, full)
            })
            .collect();
        Compiled {
            name: name.to_owned(),
            attributes,
            constraints,
        }
    }

    /// Attributes before the dictionary merge, with the `extends` chain.
    fn merged_attributes(
        &self,
        name: &str,
        raw: &HashMap<String, Value>,
    ) -> (Map<String, Value>, Option<Map<String, Value>>) {
        let item = raw
            .get(name)
            .unwrap_or_else(|| panic!("{name} is not in the copied schema"));
        let (mut attributes, mut constraints) = match item["extends"].as_str() {
            Some(parent) if parent != name => self.merged_attributes(parent, raw),
            _ => (Map::new(), None),
        };
        deep_merge_map(&mut attributes, self.own_attributes(item));
        if let Some(c) = item["constraints"].as_object() {
            constraints = Some(c.clone());
        }
        (attributes, constraints)
    }

    /// A file's attributes: its `$include`s (a profile's attributes marked
    /// with the profile's name), then its own over them.
    fn own_attributes(&self, item: &Value) -> Map<String, Value> {
        let mut out = Map::new();
        let Some(attrs) = item["attributes"].as_object() else {
            return out;
        };
        if let Some(includes) = attrs.get("$include").and_then(Value::as_array) {
            for path in includes {
                let path = self.dir.join(path.as_str().unwrap());
                let text = std::fs::read_to_string(&path)
                    .unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
                let included: Value = serde_json::from_str(&text).unwrap();
                let profile = (included["meta"] == "profile").then(|| included["name"].clone());
                for (k, v) in included["attributes"].as_object().unwrap() {
                    let mut v = v.as_object().unwrap().clone();
                    if let Some(p) = &profile {
                        v.insert("profile".into(), p.clone());
                    }
                    deep_merge_map(&mut out, Map::from_iter([(k.clone(), Value::Object(v))]));
                }
            }
        }
        let own = attrs
            .iter()
            .filter(|(k, _)| *k != "$include")
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        deep_merge_map(&mut out, own);
        out
    }
}

/// `over`'s members merged into `into`: maps recursively, anything else
/// (an explicit `null` too) replacing.
fn deep_merge_map(into: &mut Map<String, Value>, over: Map<String, Value>) {
    for (k, v) in over {
        match (into.get_mut(&k), v) {
            (Some(Value::Object(a)), Value::Object(b)) => deep_merge_map(a, b),
            (_, v) => {
                into.insert(k, v);
            }
        }
    }
}

struct Check<'a> {
    schema: &'a Schema,
    profiles: &'a [String],
}

impl Check<'_> {
    /// The attributes of `item` in this record's profiles.
    fn visible<'c>(&self, item: &'c Compiled) -> Vec<(&'c String, &'c Map<String, Value>)> {
        item.attributes
            .iter()
            .filter(|(_, def)| match def.get("profile") {
                None | Some(Value::Null) => true,
                Some(p) => self.profiles.iter().any(|k| p == k),
            })
            .collect()
    }

    fn object(
        &self,
        map: &Map<String, Value>,
        item: &Compiled,
        path: &str,
        errors: &mut Vec<String>,
    ) {
        let attrs = self.visible(item);
        let at = |name: &str| {
            if path.is_empty() {
                name.to_owned()
            } else {
                format!("{path}.{name}")
            }
        };
        for (name, def) in &attrs {
            let value = map.get(name.as_str()).filter(|v| !v.is_null());
            let Some(value) = value else {
                if def.get("requirement").and_then(Value::as_str) == Some("required") {
                    errors.push(format!("{}: required attribute missing", at(name)));
                }
                continue;
            };
            if def.contains_key("@deprecated") {
                errors.push(format!("{}: deprecated attribute", at(name)));
            }
            if def.get("is_array") == Some(&Value::Bool(true)) {
                match value.as_array() {
                    Some(items) => {
                        for (i, v) in items.iter().enumerate() {
                            self.value(v, def, &format!("{}[{i}]", at(name)), errors);
                        }
                    }
                    None => errors.push(format!("{}: expected an array, got {value}", at(name))),
                }
            } else {
                self.value(value, def, &at(name), errors);
            }
            if let Some(values) = def.get("enum").and_then(Value::as_object) {
                let items: Vec<&Value> = match value.as_array() {
                    Some(items) if def.get("is_array") == Some(&Value::Bool(true)) => {
                        items.iter().collect()
                    }
                    _ => vec![value],
                };
                for (i, v) in items.into_iter().enumerate() {
                    let key = match v {
                        Value::String(s) => s.clone(),
                        v => v.to_string(),
                    };
                    let Some(entry) = values.get(&key) else {
                        errors.push(format!("{}: {v} is not one of the enum's values", at(name)));
                        continue;
                    };
                    if entry.get("@deprecated").is_some() {
                        errors.push(format!("{}: enum value {v} is deprecated", at(name)));
                    }
                    // The sibling holds the caption, or the source's word for 99.
                    let sibling = def.get("sibling").and_then(Value::as_str);
                    if let Some(s) = sibling.and_then(|s| map.get(s)) {
                        let s = s.as_array().map_or(Some(s), |a| a.get(i));
                        if key != "99" && s != entry.get("caption") {
                            errors.push(format!(
                                "{}: {s:?} is not the caption of {} {v}, {:?}",
                                at(sibling.unwrap()),
                                at(name),
                                entry.get("caption")
                            ));
                        }
                    }
                }
            }
        }
        if !attrs.is_empty() {
            for key in map.keys() {
                if !attrs.iter().any(|(name, _)| *name == key) {
                    errors.push(format!(
                        "{}: attribute not defined in {} (for profiles {:?})",
                        at(key),
                        item.name,
                        self.profiles
                    ));
                }
            }
        }
        if let Some(constraints) = &item.constraints {
            for (kind, names) in constraints {
                let present = names
                    .as_array()
                    .unwrap()
                    .iter()
                    .filter(|n| map.get(n.as_str().unwrap()).is_some_and(|v| !v.is_null()))
                    .count();
                let ok = match kind.as_str() {
                    "at_least_one" => present >= 1,
                    "just_one" => present == 1,
                    other => panic!("constraint {other} unknown to this validator"),
                };
                if !ok {
                    errors.push(format!(
                        "{}: constraint {kind} {names} of {} not met ({present} present)",
                        if path.is_empty() { "<record>" } else { path },
                        item.name
                    ));
                }
            }
        }
    }

    /// One value (or array element) against its attribute's type.
    fn value(&self, v: &Value, def: &Map<String, Value>, path: &str, errors: &mut Vec<String>) {
        let ty = def["type"].as_str().unwrap();
        if let Some(object) = self.schema.objects.get(ty) {
            match v.as_object() {
                Some(map) => self.object(map, object, path, errors),
                None => errors.push(format!("{path}: expected object {ty}, got {v}")),
            }
            return;
        }
        let Some(t) = self.schema.types.get(ty) else {
            panic!("{path}: type {ty} is neither an object nor a dictionary type");
        };
        let base = t.get("type").and_then(Value::as_str).unwrap_or(ty);
        let ok = match base {
            "string_t" => v.as_str().is_some_and(|s| {
                let max = t.get("max_len").and_then(Value::as_u64);
                max.is_none_or(|m| s.chars().count() as u64 <= m)
            }),
            "integer_t" => v
                .as_i64()
                .is_some_and(|n| i32::try_from(n).is_ok() && in_range(n, t)),
            "long_t" => v.as_i64().is_some_and(|n| in_range(n, t)),
            "float_t" => v.is_f64(),
            "boolean_t" => v.is_boolean(),
            "json_t" => true,
            other => panic!("{path}: primitive type {other} unknown to this validator"),
        };
        if !ok {
            errors.push(format!("{path}: expected {ty} ({base}), got {v}"));
        }
    }
}

fn in_range(n: i64, t: &Value) -> bool {
    match t.get("range").and_then(Value::as_array) {
        Some(r) => r[0].as_i64().is_none_or(|lo| n >= lo) && r[1].as_i64().is_none_or(|hi| n <= hi),
        None => true,
    }
}
