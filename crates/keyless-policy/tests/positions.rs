//! Statement positions and context keys, checked against the outputs IAM's documentation
//! shows for its policy simulator.

use keyless_policy::{ParseOptions, Policy, PolicyKind, SourcePosition};

fn parse(doc: &str) -> Policy {
    Policy::parse(doc, &ParseOptions::new(PolicyKind::Identity)).expect("valid policy")
}

fn at(line: usize, column: usize) -> SourcePosition {
    SourcePosition { line, column }
}

fn spans(doc: &str) -> Vec<(SourcePosition, SourcePosition)> {
    parse(doc)
        .statements()
        .iter()
        .map(|s| (s.start(), s.end()))
        .collect()
}

/// The policy of the `simulate-custom-policy` example: `Statement` is an object.
const ONE_LINE: &str = r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"dynamodb:*","Resource":"*","Condition":{"DateGreaterThan":{"aws:CurrentTime":"2018-08-16T12:00:00Z"}}}}"#;

#[test]
fn a_statement_object_starts_after_its_brace() {
    assert_eq!(ONE_LINE.chars().count(), 167);
    assert_eq!(spans(ONE_LINE), [(at(1, 38), at(1, 167))]);
}

#[test]
fn the_first_array_statement_starts_after_the_bracket() {
    // The shape of the `simulate-principal-policy` example: 4-space indentation.
    let doc = "{\n    \"Version\": \"2012-10-17\",\n    \"Statement\": [\n        {\n            \"Sid\": \"List\",\n            \"Effect\": \"Allow\",\n            \"Action\": \"codecommit:ListRepositories\",\n            \"Resource\": \"*\"\n        }\n    ]\n}";
    assert_eq!(spans(doc), [(at(3, 19), at(9, 10))]);
}

#[test]
fn later_statements_start_where_the_previous_ended() {
    let doc = "{\n  \"Version\": \"2012-10-17\",\n  \"Statement\": [\n    {\n      \"Effect\": \"Allow\",\n      \"Action\": \"s3:GetObject\",\n      \"Resource\": \"*\",\n      \"Sid\": \"A\"\n    },\n    {\n      \"Effect\": \"Deny\",\n      \"Action\": \"s3:PutObject\",\n      \"Resource\": \"*\",\n      \"Sid\": \"B\"\n    }\n  ]\n}";
    assert_eq!(spans(doc), [(at(3, 17), at(9, 6)), (at(9, 6), at(15, 6))]);
    // json.dumps' default separators.
    let doc = r#"{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}]}"#;
    assert_eq!(spans(doc)[0].0, at(1, 41));
}

#[test]
fn every_line_ending_ends_one_line_and_characters_count_once() {
    let crlf = ONE_LINE.replacen("{\"Version\"", "{\r\n\"Version\"", 1);
    assert_eq!(spans(&crlf), [(at(2, 37), at(2, 166))]);
    let cr = ONE_LINE.replacen("{\"Version\"", "{\r\"Version\"", 1);
    assert_eq!(spans(&cr), [(at(2, 37), at(2, 166))]);
    // é is two bytes and one column; a tab is one column.
    let doc = "{\"Id\":\"é\",\t\"Version\":\"2012-10-17\",\"Statement\":[{\"Effect\":\"Allow\",\"Action\":\"s3:*\",\"Resource\":\"*\"}]}";
    assert_eq!(spans(doc)[0].0, at(1, 48));
}

#[test]
fn context_keys_follow_the_document_and_count_variables() {
    // The `get-context-keys-for-custom-policy` example.
    let doc = r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"dynamodb:*","Resource":"arn:aws:dynamodb:us-west-2:123456789012:table/${aws:username}","Condition":{"DateGreaterThan":{"aws:CurrentTime":"2015-08-16T12:00:00Z"}}}}"#;
    assert_eq!(
        parse(doc).context_keys(),
        ["aws:username", "aws:CurrentTime"]
    );
    let doc = r#"{"Version":"2012-10-17","Statement":[
        {"Effect":"Allow","Action":"s3:*","Resource":"*","Condition":{"StringEquals":{"aws:PrincipalTag/team":"${aws:RequestTag/team, 'none'}"},"Bool":{"aws:SecureTransport":"true"}}},
        {"Effect":"Deny","Action":"s3:*","NotResource":"arn:aws:s3:::b/${aws:userid}/${*}","Condition":{"Bool":{"aws:securetransport":"false"}}}]}"#;
    assert_eq!(
        parse(doc).context_keys(),
        [
            "aws:PrincipalTag/team",
            "aws:RequestTag/team",
            "aws:SecureTransport",
            "aws:userid"
        ]
    );
    // Version 2008-10-17 has no policy variables.
    let doc = r#"{"Version":"2008-10-17","Statement":{"Effect":"Allow","Action":"s3:*","Resource":"arn:aws:s3:::b/${aws:username}"}}"#;
    assert!(parse(doc).context_keys().is_empty());
}
