//! The dashboard's pages, rendered with maud. Markup only: the handlers fetch the data.

use mammoth_actors::project::ProjectOverview;
use mammoth_actors::records::{IssuedKey, KeyInfo, ProjectRecord};
use maud::{DOCTYPE, Markup, html};

use crate::operators::OperatorSession;

/// A project's usage figures.
pub(crate) struct Usage {
    /// Documents stored now.
    pub(crate) documents: usize,
    /// Data requests since the server started.
    pub(crate) requests: u64,
}

/// A secret to show once, after creating or regenerating a key.
pub(crate) struct Secret {
    /// What happened.
    pub(crate) title: &'static str,
    /// The key, secret included.
    pub(crate) key: IssuedKey,
}

pub(crate) fn layout(title: &str, session: Option<&OperatorSession>, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                @if let Some(session) = session {
                    // For admin API calls made with the session cookie (`X-CSRF-Token`).
                    meta name="csrf-token" content=(session.csrf);
                }
                title { (title) " · Mammoth" }
                link rel="stylesheet" href="/dashboard/assets/style.css";
                script src="/dashboard/assets/app.js" defer {}
            }
            body {
                header.top {
                    a.brand href="/dashboard" { span.logo aria-hidden="true" { "M" } "Mammoth" }
                    // The API's description (CONTRACT section 17), for client generators and readers.
                    a.apidoc href="/v1/openapi.json" title="OpenAPI 3.1 description of the HTTP API" { "API reference (OpenAPI)" }
                    a.apidoc href="/dashboard/api" title="The API's operations, listed" { "Operations" }
                    @if let Some(session) = session {
                        form.signout method="post" action="/dashboard/sign-out" {
                            input type="hidden" name="csrf" value=(session.csrf);
                            span.who { (session.email) }
                            button.ghost type="submit" { "Sign out" }
                        }
                    }
                }
                main { (body) }
            }
        }
    }
}

/// The sign-in form.
pub(crate) fn sign_in_page(error: Option<&str>) -> Markup {
    layout(
        "Sign in",
        None,
        html! {
            section.card.narrow {
                h1 { "Sign in" }
                p.muted { "Operators sign in with a link sent by email." }
                form method="post" action="/dashboard/sign-in" {
                    label for="email" { "Email" }
                    input #email type="email" name="email" required autocomplete="email" autofocus;
                    @if let Some(error) = error { p.error role="alert" { (error) } }
                    button.primary type="submit" { "Email me a sign-in link" }
                }
            }
        },
    )
}

/// A confirmation page for an emailed link.
pub(crate) fn verify_page(token: &str) -> Markup {
    layout(
        "Sign in",
        None,
        html! {
            section.card.narrow {
                h1 { "Continue signing in" }
                p.muted { "This link works once." }
                form method="post" action="/dashboard/verify" {
                    input type="hidden" name="token" value=(token);
                    button.primary #continue type="submit" autofocus { "Sign in to the dashboard" }
                }
            }
        },
    )
}

/// A short message, with an optional link onwards.
pub(crate) fn message_page(title: &str, message: &str, back: Option<&str>) -> Markup {
    layout(
        title,
        None,
        html! {
            section.card.narrow {
                h1 { (title) }
                p { (message) }
                a href=(back.unwrap_or("/dashboard")) { "Back to the dashboard" }
            }
        },
    )
}

/// The list of projects and the form to create one.
pub(crate) fn projects_page(session: &OperatorSession, projects: &[ProjectOverview]) -> Markup {
    layout(
        "Projects",
        Some(session),
        html! {
            h1 { "Projects" }
            p { a #cluster-link href="/dashboard/cluster" { "Cluster: nodes and project owners →" } }
            section.card {
                h2 { "New project" }
                form.inline method="post" action="/dashboard/projects" {
                    input type="hidden" name="csrf" value=(session.csrf);
                    label for="project-name" { "Name" }
                    input #project-name type="text" name="name" required maxlength="128" placeholder="my-app";
                    button.primary type="submit" { "Create project" }
                }
            }
            ul.projects {
                @for ProjectOverview { record: project, documents, .. } in projects {
                    li.card {
                        a.project href={ "/dashboard/projects/" (project.id) } {
                            strong { (project.name) }
                            span.muted { (project.id) }
                        }
                        span.pill { (documents) @if *documents == 1 { " document" } @else { " documents" } }
                    }
                }
            }
        },
    )
}

/// One project: usage, keys, and the forms that manage them.
pub(crate) fn project_page(
    session: &OperatorSession,
    project: &ProjectRecord,
    keys: &[KeyInfo],
    usage: &Usage,
    secret: Option<&Secret>,
) -> Markup {
    let base = format!("/dashboard/projects/{}", project.id);
    layout(
        &project.name,
        Some(session),
        html! {
            nav.crumbs aria-label="Breadcrumb" { a href="/dashboard" { "Projects" } " / " span { (project.name) } }
            h1 { (project.name) }
            p.muted { "Project id " code { (project.id) } " · created " (project.created_at) }
            section.stats aria-label="Usage" {
                div.stat { span.label { "Documents" } strong #documents { (usage.documents) } }
                div.stat { span.label { "Requests since start" } strong #requests { (usage.requests) } }
                div.stat { span.label { "API keys" } strong { (keys.len()) } }
            }
            p { a.button #browse href={ (base) "/data" } { "Browse collections →" } }
            p { a.button #users-link href={ (base) "/users" } { "Users →" } " " a.button #ops-link href={ (base) "/ops" } { "Operations →" } }
            @if let Some(secret) = secret {
                section.card.secret role="status" {
                    h2 { (secret.title) }
                    p { "Copy the secret of " strong { (secret.key.name) } " now: it is shown only once." }
                    div.copyrow {
                        input #secret type="text" readonly value=(secret.key.key) aria-label="Key secret";
                        button.primary type="button" data-copy="secret" { "Copy" }
                    }
                }
            }
            section.card {
                h2 { "API keys" }
                div.tablewrap {
                    table {
                        thead { tr { th { "Name" } th { "Permission" } th.hide-sm { "Created" } th { "Ends in" } th { span.sr { "Actions" } } } }
                        tbody {
                            @for key in keys {
                                tr {
                                    td { (key.name) }
                                    td { span class={ "pill " (key.permission.as_str()) } { (key.permission.as_str()) } }
                                    td.hide-sm { (key.created_at) }
                                    td { code { "…" (key.last4) } }
                                    td.actions {
                                        form method="post" action={ (base) "/keys/" (key.id) "/regenerate" } data-confirm={ "Regenerate " (key.name) "? The current secret stops working." } {
                                            input type="hidden" name="csrf" value=(session.csrf);
                                            button.ghost type="submit" { "Regenerate" }
                                        }
                                        form method="post" action={ (base) "/keys/" (key.id) "/revoke" } data-confirm={ "Revoke " (key.name) "? Apps using it stop working." } {
                                            input type="hidden" name="csrf" value=(session.csrf);
                                            button.danger type="submit" { "Revoke" }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
                h3 { "New key" }
                form.inline method="post" action={ (base) "/keys" } {
                    input type="hidden" name="csrf" value=(session.csrf);
                    label for="key-name" { "Name" }
                    input #key-name type="text" name="name" required maxlength="128" placeholder="staging";
                    label for="key-permission" { "Permission" }
                    select #key-permission name="permission" {
                        option value="read" { "read" }
                        option value="write" { "write" }
                        option value="client" { "client (ships in apps)" }
                    }
                    button.primary type="submit" { "Create key" }
                }
            }
            section.card #settings {
                h2 { "Browser access" }
                p.muted { "Client keys ship in apps: alone they reach only sign-in. A signed-in user's session reaches the data this scope allows; " code { "{{user.id}}" } " stands for the user's id." }
                form method="post" action={ (base) "/settings" } {
                    input type="hidden" name="csrf" value=(session.csrf);
                    label for="project-rename" { "Name" }
                    input #project-rename type="text" name="name" maxlength="128" value=(project.name);
                    label for="session-scope" { "Session scope (JSON; empty: sessions reach no data)" }
                    textarea #session-scope name="session_scope" rows="4" placeholder=r#"{"todos": {"owner": "{{user.id}}"}}"# {
                        @if let Some(scope) = &project.session_scope { (scope.to_string()) }
                    }
                    label for="allowed-origins" { "Allowed origins (one per line; empty: any origin)" }
                    textarea #allowed-origins name="allowed_origins" rows="3" placeholder="https://app.example.com" {
                        (project.allowed_origins.join("\n"))
                    }
                    button.primary #save-settings type="submit" { "Save" }
                }
            }
            section.card #ttl {
                h2 { "Time to live" }
                p.muted { "A document whose field holds an RFC 3339 time at or before now disappears at once from reads, queries and listeners, and is deleted within a second. Other values never expire." }
                form method="post" action={ (base) "/ttl" } {
                    input type="hidden" name="csrf" value=(session.csrf);
                    label for="ttl-policies" { "Policies (one per line, collection: field; empty: none)" }
                    textarea #ttl-policies name="ttl" rows="3" placeholder="sessions: expires_at" {
                        @for (collection, path) in &project.ttl { (collection) ": " (path) "\n" }
                    }
                    button.primary #save-ttl type="submit" { "Save" }
                }
            }
        },
    )
}
