//! The agent list: the account's own, sorted by name.

use super::*;

#[tokio::test]
async fn agents_are_the_accounts_own_sorted_by_name() {
    let (app, seeded) = app().await;
    let zulu = fixtures::agent(
        &*app.store,
        &seeded.account.id,
        "Zulu",
        Some("+14155550101"),
    )
    .await;
    let alpha = fixtures::agent(&*app.store, &seeded.account.id, "alpha", None).await;
    let bravo = fixtures::agent(
        &*app.store,
        &seeded.account.id,
        "Bravo Réception",
        Some("+442071838750"),
    )
    .await;
    let other = fixtures::agency(&*app.store, app.secrets.as_ref()).await;
    fixtures::agent(&*app.store, &other.account.id, "Aardvark", None).await;

    let (status, body) = app.settings(app.session(&seeded, "GET", AGENTS)).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body,
        json!({"success": true, "agents": [
            {"id": alpha.id.to_string(), "name": "alpha", "phone_number": null},
            {"id": bravo.id.to_string(), "name": "Bravo Réception", "phone_number": "+442071838750"},
            {"id": seeded.agent.id.to_string(), "name": "Sales Qualifier", "phone_number": "+14155550100"},
            {"id": zulu.id.to_string(), "name": "Zulu", "phone_number": "+14155550101"},
        ]})
    );
    let (_, theirs) = send_with(
        app.settings_deps(),
        app.in_session(&other.account.id, ApiRequest::get(AGENTS)),
    )
    .await;
    let names: Vec<&str> = theirs["agents"]
        .as_array()
        .expect("agents")
        .iter()
        .filter_map(|a| a["name"].as_str())
        .collect();
    assert_eq!(names, vec!["Aardvark", "Sales Qualifier"]);
    assert!(!theirs.to_string().contains(&zulu.id.to_string()));
}
