//! CloudFormation's intrinsic functions, as far as routes, functions and tables need them: `Ref`
//! (parameters, pseudo-parameters, resources), `Fn::GetAtt` (`Arn` and a few more), `Fn::Sub`
//! (both forms), `Fn::Join`, `Fn::If` with the template's conditions, `Fn::Select`,
//! `Fn::Split`, `Fn::FindInMap`. Anything else is an error that names it.

use serde_json::{Map, Value};
use std::cell::RefCell;
use std::collections::BTreeMap;

/// What a resource's `Ref` and attributes stand for locally.
#[derive(Clone, Debug)]
pub(crate) struct ResourceNames {
    pub kind: String,
    /// The value of `Ref`: a function's or a table's name, an API's id, else the logical id.
    pub reference: String,
    /// `Fn::GetAtt` attributes the gateway can give a value.
    pub attributes: BTreeMap<String, String>,
}

pub(crate) struct Context<'t> {
    pub parameters: BTreeMap<String, Value>,
    pub pseudo: BTreeMap<&'static str, String>,
    pub resources: BTreeMap<String, ResourceNames>,
    pub conditions: &'t Map<String, Value>,
    pub mappings: &'t Map<String, Value>,
    evaluated: RefCell<BTreeMap<String, bool>>,
}

const NO_VALUE: &str = "AWS::NoValue";

impl<'t> Context<'t> {
    pub fn new(
        parameters: BTreeMap<String, Value>,
        pseudo: BTreeMap<&'static str, String>,
        conditions: &'t Map<String, Value>,
        mappings: &'t Map<String, Value>,
    ) -> Self {
        Self {
            parameters,
            pseudo,
            resources: BTreeMap::new(),
            conditions,
            mappings,
            evaluated: RefCell::new(BTreeMap::new()),
        }
    }

    /// `value` with every intrinsic function evaluated; `None` for `Ref: AWS::NoValue`
    /// (the property is then absent). Keys and list items that are `AWS::NoValue` are dropped.
    pub fn resolve(&self, value: &Value) -> Result<Option<Value>, String> {
        match value {
            Value::Array(items) => {
                let mut resolved = Vec::with_capacity(items.len());
                for item in items {
                    if let Some(item) = self.resolve(item)? {
                        resolved.push(item);
                    }
                }
                Ok(Some(Value::Array(resolved)))
            }
            Value::Object(object) => {
                if object.len() == 1
                    && let Some((name, argument)) = object.iter().next()
                    && (name == "Ref" || name.starts_with("Fn::") || name == "Condition")
                {
                    return self.function(name, argument);
                }
                let mut resolved = Map::new();
                for (key, item) in object {
                    if let Some(item) = self.resolve(item)? {
                        resolved.insert(key.clone(), item);
                    }
                }
                Ok(Some(Value::Object(resolved)))
            }
            scalar => Ok(Some(scalar.clone())),
        }
    }

    /// As [`Self::resolve`], where a value is required.
    pub fn value(&self, value: &Value) -> Result<Value, String> {
        self.resolve(value)?
            .ok_or_else(|| "AWS::NoValue where a value is required".to_owned())
    }

    fn text(&self, value: &Value) -> Result<String, String> {
        scalar_text(&self.value(value)?)
    }

    fn function(&self, name: &str, argument: &Value) -> Result<Option<Value>, String> {
        let value = match name {
            "Ref" => {
                let target = self.text(argument)?;
                if target == NO_VALUE {
                    return Ok(None);
                }
                self.reference(&target)?
            }
            "Fn::GetAtt" => {
                let (resource, attribute) = match self.value(argument)? {
                    Value::Array(parts) if parts.len() == 2 => {
                        (scalar_text(&parts[0])?, scalar_text(&parts[1])?)
                    }
                    other => {
                        return Err(format!(
                            "Fn::GetAtt takes [Resource, Attribute], got {other}"
                        ));
                    }
                };
                Value::String(self.attribute(&resource, &attribute)?)
            }
            "Fn::Sub" => Value::String(self.sub(argument)?),
            "Fn::Join" => {
                let Value::Array(parts) = self.value(argument)? else {
                    return Err("Fn::Join takes [delimiter, [values]]".into());
                };
                match parts.as_slice() {
                    [Value::String(delimiter), Value::Array(items)] => Value::String(
                        items
                            .iter()
                            .map(scalar_text)
                            .collect::<Result<Vec<_>, _>>()?
                            .join(delimiter),
                    ),
                    _ => return Err("Fn::Join takes [delimiter, [values]]".into()),
                }
            }
            "Fn::Select" => {
                let Value::Array(parts) = self.value(argument)? else {
                    return Err("Fn::Select takes [index, [values]]".into());
                };
                match parts.as_slice() {
                    [index, Value::Array(items)] => {
                        let index: usize = scalar_text(index)?
                            .parse()
                            .map_err(|_| format!("Fn::Select index {index} is not a number"))?;
                        items
                            .get(index)
                            .cloned()
                            .ok_or_else(|| format!("Fn::Select index {index} is out of range"))?
                    }
                    _ => return Err("Fn::Select takes [index, [values]]".into()),
                }
            }
            "Fn::Split" => {
                let Value::Array(parts) = self.value(argument)? else {
                    return Err("Fn::Split takes [delimiter, text]".into());
                };
                match parts.as_slice() {
                    [Value::String(delimiter), Value::String(text)] if !delimiter.is_empty() => {
                        Value::Array(text.split(delimiter.as_str()).map(Value::from).collect())
                    }
                    _ => return Err("Fn::Split takes [delimiter, text]".into()),
                }
            }
            "Fn::FindInMap" => {
                let Value::Array(parts) = self.value(argument)? else {
                    return Err("Fn::FindInMap takes [Map, TopKey, SecondKey]".into());
                };
                let keys = parts
                    .iter()
                    .map(scalar_text)
                    .collect::<Result<Vec<_>, _>>()?;
                let [map, top, second] = keys.as_slice() else {
                    return Err("Fn::FindInMap takes [Map, TopKey, SecondKey]".into());
                };
                self.mappings
                    .get(map)
                    .and_then(|m| m.get(top))
                    .and_then(|m| m.get(second))
                    .cloned()
                    .ok_or_else(|| format!("Fn::FindInMap: no {map}.{top}.{second} in Mappings"))?
            }
            "Fn::If" => {
                let Value::Array(parts) = argument else {
                    return Err("Fn::If takes [Condition, then, else]".into());
                };
                let [condition, then, otherwise] = parts.as_slice() else {
                    return Err("Fn::If takes [Condition, then, else]".into());
                };
                let condition = scalar_text(condition)?;
                let chosen = if self.condition(&condition)? {
                    then
                } else {
                    otherwise
                };
                return self.resolve(chosen);
            }
            "Fn::Equals" | "Fn::Not" | "Fn::And" | "Fn::Or" | "Condition" => {
                Value::Bool(self.truth(&Value::Object(
                    [(name.to_owned(), argument.clone())].into_iter().collect(),
                ))?)
            }
            other => return Err(format!("{other} is not supported by the local gateway")),
        };
        Ok(Some(value))
    }

    fn reference(&self, target: &str) -> Result<Value, String> {
        if let Some(value) = self.parameters.get(target) {
            return Ok(value.clone());
        }
        if let Some(value) = self.pseudo.get(target) {
            return Ok(Value::String(value.clone()));
        }
        if let Some(resource) = self.resources.get(target) {
            return Ok(Value::String(resource.reference.clone()));
        }
        Err(format!(
            "Ref {target}: no such parameter, pseudo-parameter or resource"
        ))
    }

    fn attribute(&self, resource: &str, attribute: &str) -> Result<String, String> {
        let names = self
            .resources
            .get(resource)
            .ok_or_else(|| format!("Fn::GetAtt {resource}.{attribute}: no such resource"))?;
        names.attributes.get(attribute).cloned().ok_or_else(|| {
            format!(
                "Fn::GetAtt {resource}.{attribute}: the local gateway gives a {} only {}",
                names.kind,
                if names.attributes.is_empty() {
                    "no attributes".to_owned()
                } else {
                    names
                        .attributes
                        .keys()
                        .cloned()
                        .collect::<Vec<_>>()
                        .join(", ")
                }
            )
        })
    }

    fn sub(&self, argument: &Value) -> Result<String, String> {
        let (text, variables) = match argument {
            Value::String(text) => (text.clone(), Map::new()),
            Value::Array(parts) => match parts.as_slice() {
                [Value::String(text), Value::Object(variables)] => {
                    (text.clone(), variables.clone())
                }
                _ => return Err("Fn::Sub takes a string or [string, {variables}]".into()),
            },
            _ => return Err("Fn::Sub takes a string or [string, {variables}]".into()),
        };
        let mut out = String::with_capacity(text.len());
        let mut rest = text.as_str();
        while let Some(start) = rest.find("${") {
            out.push_str(&rest[..start]);
            let after = &rest[start + 2..];
            let end = after
                .find('}')
                .ok_or_else(|| format!("Fn::Sub {text:?}: unclosed ${{"))?;
            let name = after[..end].trim();
            if let Some(literal) = name.strip_prefix('!') {
                // `${!Literal}` is the text `${Literal}`.
                out.push_str("${");
                out.push_str(literal);
                out.push('}');
            } else if let Some(value) = variables.get(name) {
                out.push_str(&self.text(value)?);
            } else if let Some((resource, attribute)) = name.split_once('.')
                && !self.parameters.contains_key(name)
                && !self.pseudo.contains_key(name)
            {
                out.push_str(&self.attribute(resource, attribute)?);
            } else {
                out.push_str(&scalar_text(&self.reference(name)?)?);
            }
            rest = &after[end + 1..];
        }
        out.push_str(rest);
        Ok(out)
    }

    /// A named condition of the template, evaluated once.
    pub fn condition(&self, name: &str) -> Result<bool, String> {
        if let Some(value) = self.evaluated.borrow().get(name) {
            return Ok(*value);
        }
        let definition = self
            .conditions
            .get(name)
            .ok_or_else(|| format!("no condition {name} in Conditions"))?;
        // A condition that refers to itself would recurse forever; mark it first.
        self.evaluated.borrow_mut().insert(name.to_owned(), false);
        let value = self.truth(definition)?;
        self.evaluated.borrow_mut().insert(name.to_owned(), value);
        Ok(value)
    }

    fn truth(&self, value: &Value) -> Result<bool, String> {
        let Value::Object(object) = value else {
            return match value {
                Value::Bool(flag) => Ok(*flag),
                Value::String(text) if text == "true" || text == "false" => Ok(text == "true"),
                other => Err(format!(
                    "a condition must be a condition function, got {other}"
                )),
            };
        };
        let Some((name, argument)) = object.iter().next().filter(|_| object.len() == 1) else {
            return Err(format!(
                "a condition must be one condition function, got {value}"
            ));
        };
        let items = || match argument {
            Value::Array(items) => Ok(items),
            _ => Err(format!("{name} takes a list")),
        };
        match name.as_str() {
            "Condition" => self.condition(&scalar_text(argument)?),
            "Fn::Equals" => match items()?.as_slice() {
                [a, b] => Ok(self.resolve(a)? == self.resolve(b)?),
                _ => Err("Fn::Equals takes two values".into()),
            },
            "Fn::Not" => match items()?.as_slice() {
                [a] => Ok(!self.truth(a)?),
                _ => Err("Fn::Not takes one condition".into()),
            },
            "Fn::And" => items()?
                .iter()
                .try_fold(true, |all, c| Ok(all & self.truth(c)?)),
            "Fn::Or" => items()?
                .iter()
                .try_fold(false, |any, c| Ok(any | self.truth(c)?)),
            other => Err(format!("{other} is not a condition function")),
        }
    }
}

/// A scalar as CloudFormation turns it into text.
pub(crate) fn scalar_text(value: &Value) -> Result<String, String> {
    match value {
        Value::String(text) => Ok(text.clone()),
        Value::Number(number) => Ok(number.to_string()),
        Value::Bool(flag) => Ok(flag.to_string()),
        other => Err(format!("expected a string, got {other}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn with<R>(conditions: Value, test: impl FnOnce(&mut Context) -> R) -> R {
        let Value::Object(conditions) = conditions else {
            panic!()
        };
        let mappings = json!({"Sizes": {"small": {"mb": 128}}});
        let Value::Object(mappings) = mappings else {
            panic!()
        };
        let mut context = Context::new(
            [
                ("Stage".to_owned(), json!("dev")),
                ("Mode".to_owned(), json!("a")),
            ]
            .into(),
            [
                ("AWS::Region", "us-east-1".to_owned()),
                ("AWS::AccountId", "123456789012".to_owned()),
            ]
            .into(),
            &conditions,
            &mappings,
        );
        context.resources.insert(
            "Fn".into(),
            ResourceNames {
                kind: "AWS::Serverless::Function".into(),
                reference: "Fn".into(),
                attributes: [(
                    "Arn".to_owned(),
                    "arn:aws:lambda:us-east-1:123456789012:function:Fn".to_owned(),
                )]
                .into(),
            },
        );
        test(&mut context)
    }

    #[test]
    fn refs_subs_joins_and_getatts() {
        with(json!({}), |c| {
            assert_eq!(c.value(&json!({"Ref": "Stage"})).unwrap(), json!("dev"));
            assert_eq!(
                c.value(
                    &json!({"Fn::Sub": "https://${AWS::Region}/${Stage}/${Fn.Arn}/${!Literal}"})
                )
                .unwrap(),
                json!(
                    "https://us-east-1/dev/arn:aws:lambda:us-east-1:123456789012:function:Fn/${Literal}"
                )
            );
            assert_eq!(
                c.value(&json!({"Fn::Sub": ["${A}-${Stage}", {"A": {"Ref": "AWS::AccountId"}}]}))
                    .unwrap(),
                json!("123456789012-dev")
            );
            assert_eq!(
                c.value(&json!({"Fn::Join": ["/", ["a", {"Ref": "Stage"}, 3]]}))
                    .unwrap(),
                json!("a/dev/3")
            );
            assert_eq!(
                c.value(&json!({"Fn::FindInMap": ["Sizes", "small", "mb"]}))
                    .unwrap(),
                json!(128)
            );
            assert_eq!(
                c.value(&json!({"Fn::Select": [1, {"Fn::Split": [",", "a,b,c"]}]}))
                    .unwrap(),
                json!("b")
            );
        });
    }

    #[test]
    fn no_value_drops_the_key_and_if_follows_conditions() {
        let conditions = json!({
            "IsA": {"Fn::Equals": [{"Ref": "Mode"}, "a"]},
            "NotA": {"Fn::Not": [{"Condition": "IsA"}]},
            "Both": {"Fn::And": [{"Condition": "IsA"}, {"Condition": "NotA"}]},
        });
        with(conditions, |c| {
            let resolved = c
                .value(&json!({
                    "X": {"Fn::If": ["IsA", "yes", "no"]},
                    "Y": {"Fn::If": ["NotA", "yes", {"Ref": "AWS::NoValue"}]},
                    "Z": [1, {"Ref": "AWS::NoValue"}],
                }))
                .unwrap();
            assert_eq!(resolved, json!({"X": "yes", "Z": [1]}));
            assert!(!c.condition("Both").unwrap());
        });
    }

    #[test]
    fn what_cannot_be_resolved_says_what() {
        with(json!({}), |c| {
            assert!(
                c.value(&json!({"Ref": "Nope"}))
                    .unwrap_err()
                    .contains("Nope")
            );
            assert!(
                c.value(&json!({"Fn::GetAtt": ["Fn", "Version"]}))
                    .unwrap_err()
                    .contains("Arn")
            );
            assert!(
                c.value(&json!({"Fn::ImportValue": "x"}))
                    .unwrap_err()
                    .contains("Fn::ImportValue")
            );
            assert!(c.value(&json!({"Fn::Sub": "${Unclosed"})).is_err());
            assert!(c.condition("Missing").is_err());
        });
    }
}
