//! The template reader on our own template.yaml and on small templates of each form, and its
//! refusals: each names the resource, the property and why.

use super::*;
use serde_json::json;

fn options() -> TemplateOptions {
    TemplateOptions {
        api_id: "localapi01".into(),
        region: "us-east-1".into(),
        account_id: "123456789012".into(),
        stack_name: "local".into(),
        ..TemplateOptions::default()
    }
}

fn repo() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
}

/// A template with `resources` (YAML, indented by two) and two functions in the repo root.
fn parse(resources: &str) -> Result<SamApp, TemplateError> {
    parse_with(resources, &options())
}

fn parse_with(resources: &str, options: &TemplateOptions) -> Result<SamApp, TemplateError> {
    let text = format!(
        r#"
Transform: AWS::Serverless-2016-10-31
Parameters:
  Stage:
    Type: String
    Default: dev
Globals:
  Function:
    Runtime: nodejs20.x
    CodeUri: tests
    Timeout: 5
    Environment:
      Variables:
        TABLE: !Ref Table
Resources:
  Table:
    Type: AWS::DynamoDB::Table
    Properties:
      AttributeDefinitions: [{{AttributeName: connectionId, AttributeType: S}}]
      KeySchema: [{{AttributeName: connectionId, KeyType: HASH}}]
      BillingMode: PAY_PER_REQUEST
  OnConnect:
    Type: AWS::Serverless::Function
    Properties:
      Handler: app.handler
      Environment:
        Variables:
          ENDPOINT: !Sub "https://${{Api}}.execute-api.${{AWS::Region}}.amazonaws.com/${{Stage}}"
  OnMessage:
    Type: AWS::Serverless::Function
    Properties:
      Handler: app.handler
      Timeout: 9
{resources}"#
    );
    SamApp::parse(&text, repo(), options)
}

const RAW_API: &str = r#"
  Api:
    Type: AWS::ApiGatewayV2::Api
    Properties:
      Name: chat
      ProtocolType: WEBSOCKET
      RouteSelectionExpression: "$request.body.service.do"
  ConnectRoute:
    Type: AWS::ApiGatewayV2::Route
    Properties:
      ApiId: !Ref Api
      RouteKey: $connect
      AuthorizationType: CUSTOM
      AuthorizerId: !Ref Auth
      Target: !Join ['/', [integrations, !Ref ConnectIntegration]]
  ConnectIntegration:
    Type: AWS::ApiGatewayV2::Integration
    Properties:
      ApiId: !Ref Api
      IntegrationType: AWS_PROXY
      IntegrationUri: !Sub arn:aws:apigateway:${AWS::Region}:lambda:path/2015-03-31/functions/${OnConnect.Arn}/invocations
  Auth:
    Type: AWS::ApiGatewayV2::Authorizer
    Properties:
      ApiId: !Ref Api
      Name: auth
      AuthorizerType: REQUEST
      AuthorizerUri: !Sub arn:aws:apigateway:${AWS::Region}:lambda:path/2015-03-31/functions/${OnConnect.Arn}/invocations
      IdentitySource: [route.request.header.Authorization, route.request.querystring.token]
  SendRoute:
    Type: AWS::ApiGatewayV2::Route
    Properties:
      ApiId: !Ref Api
      RouteKey: sum
      RouteResponseSelectionExpression: $default
      Target: !Sub integrations/${SendIntegration}
  SendResponse:
    Type: AWS::ApiGatewayV2::RouteResponse
    Properties:
      ApiId: !Ref Api
      RouteId: !Ref SendRoute
      RouteResponseKey: $default
  SendIntegration:
    Type: AWS::ApiGatewayV2::Integration
    Properties:
      ApiId: !Ref Api
      IntegrationType: AWS_PROXY
      TimeoutInMillis: 1500
      IntegrationUri: !GetAtt OnMessage.Arn
  Stage:
    Type: AWS::ApiGatewayV2::Stage
    Properties:
      ApiId: !Ref Api
      StageName: !Ref Stage
  Permission:
    Type: AWS::Lambda::Permission
    Properties:
      Action: lambda:InvokeFunction
      FunctionName: !Ref OnMessage
      Principal: apigateway.amazonaws.com
"#;

const SAM_API: &str = r#"
  Api:
    Type: AWS::Serverless::WebSocketApi
    Properties:
      RouteSelectionExpression: "$request.body.service.do"
      StageName: !Ref Stage
      Auth:
        AuthType: CUSTOM
        AuthArn: !GetAtt OnConnect.Arn
        IdentitySource: [route.request.header.Authorization, route.request.querystring.token]
      Routes:
        $connect:
          FunctionArn: !GetAtt OnConnect.Arn
        sum:
          FunctionArn: !GetAtt OnMessage.Arn
          IntegrationTimeout: 1500
          RouteResponseSelectionExpression: $default
"#;

#[test]
fn raw_and_serverless_forms_give_the_same_route_table_but_for_route_responses() {
    let raw = parse(RAW_API).unwrap();
    let sam = parse(SAM_API).unwrap();
    let expected = json!({
        "stage": "dev",
        "routeSelectionExpression": "$request.body.service.do",
        "routes": {
            "$connect": {"function": "OnConnect", "twoWay": false, "timeoutMs": null},
            "sum": {"function": "OnMessage", "twoWay": true, "timeoutMs": 1500},
        },
        "authorizer": {
            "function": "OnConnect",
            "identitySource": ["route.request.header.Authorization", "route.request.querystring.token"],
        },
    });
    assert_eq!(raw.route_summary(), expected);
    // SAM creates no route response for RouteResponseSelectionExpression (its translator's
    // expansion has none): the same route is one-way when deployed.
    let mut one_way = expected.clone();
    one_way["routes"]["sum"]["twoWay"] = json!(false);
    assert_eq!(sam.route_summary(), one_way);
    assert!(
        sam.not_emulated.iter().any(|line| line.contains("one-way")),
        "{:?}",
        sam.not_emulated
    );
    assert!(
        raw.not_emulated
            .iter()
            .any(|line| line.contains("AWS::Lambda::Permission") && line.contains("Permission")),
        "{:?}",
        raw.not_emulated
    );
}

#[test]
fn functions_take_globals_parameters_and_env_vars() {
    let mut options = options();
    options.parameter_overrides = vec![("Stage".into(), "prod".into())];
    options.env_vars = Some(json!({
        "Parameters": {"AWS_ENDPOINT_URL_DYNAMODB": "http://127.0.0.1:8600", "TABLE": "global"},
        "OnMessage": {"TABLE": "mine", "DEBUG": 1},
    }));
    let app = parse_with(RAW_API, &options).unwrap();
    assert_eq!(app.stage.as_deref(), Some("prod"));
    let connect = &app.functions["OnConnect"];
    assert_eq!(connect.runtime, "nodejs20.x");
    assert_eq!(connect.handler.as_deref(), Some("app.handler"));
    assert_eq!(connect.timeout_secs, 5);
    assert!(connect.code_uri.ends_with("tests"));
    assert_eq!(connect.environment["TABLE"], "global");
    assert_eq!(
        connect.environment["ENDPOINT"],
        "https://localapi01.execute-api.us-east-1.amazonaws.com/prod"
    );
    let message = &app.functions["OnMessage"];
    assert_eq!(message.timeout_secs, 9);
    assert_eq!(message.environment["TABLE"], "mine");
    assert_eq!(message.environment["DEBUG"], "1");
    assert_eq!(
        message.environment["AWS_ENDPOINT_URL_DYNAMODB"],
        "http://127.0.0.1:8600"
    );
    assert_eq!(app.tables.len(), 1);
    assert_eq!(app.tables[0].name, "Table");
}

#[test]
fn our_own_template_reads_as_the_project_routes() {
    let mut options = options();
    options.parameter_overrides = vec![("ApiToken".into(), "x".repeat(32))];
    let app = SamApp::load(&repo().join("template.yaml"), &options).unwrap();
    assert_eq!(app.stage.as_deref(), Some("prod"));
    let summary = app.route_summary();
    assert_eq!(
        summary["routes"]["$connect"]["function"],
        "WsConnectFunction"
    );
    assert_eq!(
        summary["routes"]["$disconnect"]["function"],
        "WsDisconnectFunction"
    );
    assert_eq!(
        summary["routes"]["$default"],
        json!({"function": "WsDefaultFunction", "twoWay": true, "timeoutMs": null})
    );
    assert_eq!(summary["authorizer"], Value::Null);
    // The authorizer function exists only under its condition.
    assert!(!app.functions.contains_key("WsAuthorizerFunction"));
    let mut http: Vec<_> = app
        .http_routes
        .iter()
        .map(|r| format!("{} {} {}", r.method, r.path, r.function))
        .collect();
    http.sort();
    assert_eq!(http.len(), 9, "{http:?}");
    assert!(http.contains(&"GET /broadcasts/{broadcastId} HttpBroadcastFunction".to_owned()));
    assert!(http.contains(&"GET /channels/{channel}/presence HttpPresenceFunction".to_owned()));
    assert!(http.contains(&"POST /broadcast/{channel} HttpBroadcastFunction".to_owned()));
    assert!(http.contains(&"GET /handshakes/{attemptId} HttpHandshakesFunction".to_owned()));
    let default = &app.functions["WsDefaultFunction"];
    assert_eq!(default.cargo, Some(Some("ws-default".to_owned())));
    assert_eq!(default.timeout_secs, 29);
    assert_eq!(default.environment["CONNECTIONS_TABLE"], "ConnectionsTable");
    assert_eq!(default.environment["MAX_CHANNELS_PER_CONNECTION"], "20");
    assert!(
        !app.functions["WsConnectFunction"]
            .environment
            .contains_key("JWT_SECRET")
    );
    let mut tables: Vec<_> = app.tables.iter().map(|t| t.logical_id.as_str()).collect();
    tables.sort_unstable();
    assert_eq!(
        tables,
        [
            "BroadcastsTable",
            "ConnectionsTable",
            "HistoryTable",
            "PresenceTable",
            "SubscriptionsTable",
            "UserSlotsTable"
        ]
    );

    options
        .parameter_overrides
        .push(("AuthMode".into(), "authorizer".into()));
    let app = SamApp::load(&repo().join("template.yaml"), &options).unwrap();
    assert_eq!(
        app.route_summary()["authorizer"],
        json!({"function": "WsAuthorizerFunction", "identitySource": ["route.request.querystring.token"]})
    );
}

#[test]
fn a_parameter_without_default_or_override_is_refused() {
    let err = SamApp::load(&repo().join("template.yaml"), &options()).unwrap_err();
    assert_eq!(
        (err.resource.as_str(), err.property.as_str()),
        ("Parameters", "ApiToken")
    );
    let mut bad = options();
    bad.parameter_overrides = vec![
        ("ApiToken".into(), "x".repeat(32)),
        ("AuthMode".into(), "sometimes".into()),
    ];
    let err = SamApp::load(&repo().join("template.yaml"), &bad).unwrap_err();
    assert!(err.reason.contains("AllowedValues"), "{err}");
    let mut unknown = options();
    unknown.parameter_overrides = vec![("Nope".into(), "1".into())];
    assert_eq!(parse_with(SAM_API, &unknown).unwrap_err().property, "Nope");
}

/// Each refusal: (a change to the raw template, the resource and property it names, a word of
/// the reason).
#[test]
fn what_cannot_be_honoured_is_refused_with_resource_property_and_reason() {
    let cases: [(&str, &str, &str, &str, &str); 10] = [
        (
            "IntegrationType: AWS_PROXY\n      TimeoutInMillis",
            "IntegrationType: HTTP_PROXY\n      TimeoutInMillis",
            "SendIntegration",
            "Properties.IntegrationType",
            "AWS_PROXY",
        ),
        (
            "TimeoutInMillis: 1500",
            "TimeoutInMillis: 30000",
            "SendIntegration",
            "Properties.TimeoutInMillis",
            "29000",
        ),
        (
            "ProtocolType: WEBSOCKET",
            "ProtocolType: HTTP",
            "Api",
            "Properties.ProtocolType",
            "WEBSOCKET",
        ),
        (
            "AuthorizerType: REQUEST",
            "AuthorizerType: JWT",
            "Auth",
            "Properties.AuthorizerType",
            "REQUEST",
        ),
        (
            "AuthorizationType: CUSTOM",
            "AuthorizationType: AWS_IAM",
            "ConnectRoute",
            "Properties.AuthorizationType",
            "NONE",
        ),
        (
            "RouteKey: sum",
            "RouteKey: sum\n      ApiKeyRequired: true",
            "SendRoute",
            "Properties.ApiKeyRequired",
            "API keys",
        ),
        (
            "RouteKey: sum",
            "RouteKey: sum\n      RequestModels: {a: b}",
            "SendRoute",
            "Properties.RequestModels",
            "not supported",
        ),
        (
            "\"$request.body.service.do\"",
            "\"$request.header.x\"",
            "Api",
            "Properties.RouteSelectionExpression",
            "$request.body",
        ),
        (
            "route.request.querystring.token]",
            "method.request.querystring.token]",
            "Auth",
            "Properties.IdentitySource",
            "route.request",
        ),
        (
            "IntegrationUri: !GetAtt OnMessage.Arn",
            "IntegrationUri: arn:aws:lambda:us-east-1:1:function:Elsewhere",
            "SendIntegration",
            "Properties.IntegrationUri",
            "not the ARN",
        ),
    ];
    for (from, to, resource, property, word) in cases {
        assert!(RAW_API.contains(from), "{from}");
        let err = parse(&RAW_API.replace(from, to)).unwrap_err();
        assert_eq!(
            (err.resource.as_str(), err.property.as_str()),
            (resource, property),
            "{to}: {err}"
        );
        assert!(err.reason.contains(word), "{to}: {err}");
    }
}

#[test]
fn unknown_resources_runtimes_events_and_properties_are_refused() {
    let with = |extra: &str| parse(&format!("{SAM_API}{extra}")).unwrap_err();
    let err = with("  Topic:\n    Type: AWS::SNS::Topic\n");
    assert_eq!(
        (err.resource.as_str(), err.property.as_str()),
        ("Topic", "Type")
    );
    let function = |properties: &str| {
        format!(
            "  F:\n    Type: AWS::Serverless::Function\n    Properties:\n      Handler: a.h\n{properties}"
        )
    };
    let err = with(&function("      Runtime: java21\n"));
    assert_eq!(
        (err.resource.as_str(), err.property.as_str()),
        ("F", "Properties.Runtime")
    );
    let err = with(&function(
        "      Events:\n        Q:\n          Type: SQS\n          Properties: {Queue: x}\n",
    ));
    assert_eq!(
        (err.resource.as_str(), err.property.as_str()),
        ("F", "Properties.Events.Q.Type")
    );
    let err = with(&function("      Layers: [arn]\n"));
    assert_eq!(
        (err.resource.as_str(), err.property.as_str()),
        ("F", "Properties.Layers")
    );
    let err = with(&function("      CodeUri: no-such-directory\n"));
    assert_eq!(
        (err.resource.as_str(), err.property.as_str()),
        ("F", "Properties.CodeUri")
    );
    let err = with("  T:\n    Type: AWS::DynamoDB::Table\n    Properties: {KeySchema: []}\n");
    assert_eq!(
        (err.resource.as_str(), err.property.as_str()),
        ("T", "Properties.AttributeDefinitions")
    );
    let err = with(
        "  T:\n    Type: AWS::DynamoDB::Table\n    Properties: {KinesisStreamSpecification: {}}\n",
    );
    assert_eq!(
        (err.resource.as_str(), err.property.as_str()),
        ("T", "Properties.KinesisStreamSpecification")
    );
    let err = parse(&SAM_API.replace(
        "StageName: !Ref Stage",
        "StageName: !Ref Stage\n      StageVariables: {a: b}",
    ))
    .unwrap_err();
    assert_eq!(
        (err.resource.as_str(), err.property.as_str()),
        ("Api", "Properties.StageVariables")
    );
    let err = parse(&format!(
        "{SAM_API}{}",
        RAW_API.replace("  Api:", "  Api2:")
    ))
    .unwrap_err();
    assert!(
        err.reason.contains("one WebSocket API") || err.resource == "Api2",
        "{err}"
    );
    let err = parse(&SAM_API.replace(
        "RouteSelectionExpression: \"$request.body.service.do\"",
        "Name: x",
    ))
    .unwrap_err();
    assert_eq!(
        (err.resource.as_str(), err.property.as_str()),
        ("Api", "Properties.RouteSelectionExpression")
    );
    let err = SamApp::parse("Resources: {}\n", repo(), &options()).unwrap_err();
    assert_eq!(err.resource, "Resources");
    let err =
        SamApp::parse("Transform: AWS::Other\nResources: {}\n", repo(), &options()).unwrap_err();
    assert_eq!(err.resource, "Transform");
}

#[test]
fn parameter_overrides_take_both_forms() {
    assert_eq!(
        parse_parameter_override("Stage=dev").unwrap(),
        ("Stage".into(), "dev".into())
    );
    assert_eq!(
        parse_parameter_override("A=b=c").unwrap(),
        ("A".into(), "b=c".into())
    );
    assert_eq!(
        parse_parameter_override("ParameterKey=Stage,ParameterValue=prod").unwrap(),
        ("Stage".into(), "prod".into())
    );
    assert!(parse_parameter_override("novalue").is_err());
    assert!(parse_parameter_override("=x").is_err());
}

#[test]
fn simple_tables_become_tables_with_a_string_key() {
    let app = parse(&format!(
        "{SAM_API}  Simple:\n    Type: AWS::Serverless::SimpleTable\n"
    ))
    .unwrap();
    let simple = app
        .tables
        .iter()
        .find(|t| t.logical_id == "Simple")
        .unwrap();
    assert_eq!(
        simple.properties["KeySchema"],
        json!([{"AttributeName": "id", "KeyType": "HASH"}])
    );
    assert_eq!(simple.properties["BillingMode"], "PAY_PER_REQUEST");
}
