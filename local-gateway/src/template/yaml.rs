//! A template's text as JSON: YAML (or JSON, a subset of it) with CloudFormation's short forms
//! (`!Ref X`, `!GetAtt A.B`, `!Sub …`) rewritten to their long forms (`{"Ref": "X"}`,
//! `{"Fn::GetAtt": ["A", "B"]}`), as CloudFormation reads them.

use serde_json::{Map, Value};
use serde_yaml::Value as Yaml;

/// Short forms and the long form each stands for. Any other tag is refused.
const TAGS: [(&str, &str); 14] = [
    ("Ref", "Ref"),
    ("Condition", "Condition"),
    ("GetAtt", "Fn::GetAtt"),
    ("Sub", "Fn::Sub"),
    ("Join", "Fn::Join"),
    ("If", "Fn::If"),
    ("Equals", "Fn::Equals"),
    ("Not", "Fn::Not"),
    ("And", "Fn::And"),
    ("Or", "Fn::Or"),
    ("Select", "Fn::Select"),
    ("Split", "Fn::Split"),
    ("FindInMap", "Fn::FindInMap"),
    ("Base64", "Fn::Base64"),
];

/// Parses `text`; the error says where and why.
pub(crate) fn parse(text: &str) -> Result<Value, String> {
    let yaml: Yaml = serde_yaml::from_str(text).map_err(|err| err.to_string())?;
    to_json(yaml)
}

fn to_json(yaml: Yaml) -> Result<Value, String> {
    Ok(match yaml {
        Yaml::Null => Value::Null,
        Yaml::Bool(value) => Value::Bool(value),
        Yaml::Number(number) => {
            if let Some(value) = number.as_i64() {
                Value::from(value)
            } else if let Some(value) = number.as_u64() {
                Value::from(value)
            } else {
                // NaN and infinities have no JSON form; CloudFormation would read them as text.
                number
                    .as_f64()
                    .and_then(serde_json::Number::from_f64)
                    .map_or_else(|| Value::String(number.to_string()), Value::Number)
            }
        }
        Yaml::String(text) => Value::String(text),
        Yaml::Sequence(items) => Value::Array(
            items
                .into_iter()
                .map(to_json)
                .collect::<Result<Vec<_>, _>>()?,
        ),
        Yaml::Mapping(mapping) => {
            let mut object = Map::new();
            for (key, value) in mapping {
                let key = match key {
                    Yaml::String(key) => key,
                    Yaml::Number(number) => number.to_string(),
                    Yaml::Bool(flag) => flag.to_string(),
                    other => return Err(format!("a mapping key must be text, got {other:?}")),
                };
                object.insert(key, to_json(value)?);
            }
            Value::Object(object)
        }
        Yaml::Tagged(tagged) => {
            let tag = tagged.tag.to_string();
            let name = tag.trim_start_matches('!');
            let Some((_, long)) = TAGS.iter().find(|(short, _)| *short == name) else {
                return Err(format!(
                    "unknown tag {tag}: supported short forms are {}",
                    TAGS.iter()
                        .map(|(short, _)| format!("!{short}"))
                        .collect::<Vec<_>>()
                        .join(", ")
                ));
            };
            let value = to_json(tagged.value)?;
            let value = match (*long, value) {
                // `!GetAtt Resource.Attribute` is the list form's two parts, split at the first dot.
                ("Fn::GetAtt", Value::String(text)) => match text.split_once('.') {
                    Some((resource, attribute)) => {
                        Value::Array(vec![resource.into(), attribute.into()])
                    }
                    None => return Err(format!("!GetAtt {text}: expected Resource.Attribute")),
                },
                (_, value) => value,
            };
            Value::Object([(long.to_string(), value)].into_iter().collect())
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn short_forms_become_long_forms() {
        let parsed = parse(
            "A: !Ref Stage\nB: !GetAtt Fn.Arn\nC: !Sub 'x-${Stage}'\nD: !Join [',', [a, !Ref S]]\nE: !If [Cond, 1, 2]\n",
        )
        .unwrap();
        assert_eq!(
            parsed,
            json!({
                "A": {"Ref": "Stage"},
                "B": {"Fn::GetAtt": ["Fn", "Arn"]},
                "C": {"Fn::Sub": "x-${Stage}"},
                "D": {"Fn::Join": [",", ["a", {"Ref": "S"}]]},
                "E": {"Fn::If": ["Cond", 1, 2]},
            })
        );
    }

    #[test]
    fn json_templates_parse_too() {
        let parsed = parse(r#"{"Resources": {"A": {"Type": "T", "Properties": {"N": 3}}}}"#);
        assert_eq!(parsed.unwrap()["Resources"]["A"]["Properties"]["N"], 3);
    }

    #[test]
    fn unknown_tags_and_bad_getatt_are_refused() {
        assert!(
            parse("A: !ImportValue Other")
                .unwrap_err()
                .contains("!ImportValue")
        );
        assert!(
            parse("A: !GetAtt NoDot")
                .unwrap_err()
                .contains("Resource.Attribute")
        );
        assert!(parse("A: [unclosed").is_err());
    }
}
