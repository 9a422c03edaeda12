//! The storage conformance suite: every case runs against SQLite and PostgreSQL.
//! PostgreSQL is reached at `KEFU_TEST_POSTGRES_URL` (default
//! `postgres://postgres@127.0.0.1:5432/test`); each test creates and drops its own database.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod agent;
mod cases;
mod common;
mod imports;
mod languages;
mod llm;
mod llm_server;
mod order_refs;
mod shop;
mod verify;

/// Generates one `#[tokio::test]` per case and backend.
macro_rules! conformance {
    ($($module:ident :: $name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test]
                async fn $name() {
                    let db = crate::common::TestDb::sqlite().await;
                    crate::$module::$name(&db.store).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test]
                async fn $name() {
                    let db = crate::common::TestDb::postgres().await;
                    crate::$module::$name(&db.store).await;
                    db.drop_database().await;
                }
            )*
        }
    };
}

conformance!(
    agent::a_verified_customer_never_sees_another_customers_order,
    agent::another_customers_order_reads_like_a_missing_one,
    agent::instructions_in_a_document_do_not_change_behaviour,
    agent::hidden_text_and_planted_instructions_never_reach_a_reply,
    agent::a_long_policy_page_answers_with_the_section_that_holds_the_fact,
    agent::verification_needs_the_email_or_postal_code_on_the_order,
    agent::a_one_time_code_by_email_verifies_without_revealing_who_has_an_account,
    verify::a_list_of_postal_codes_or_addresses_never_verifies,
    verify::failures_on_one_order_from_many_visitors_lock_it_like_a_missing_order,
    verify::failures_from_one_client_address_are_limited_across_visitors,
    verify::many_failures_shop_wide_pause_the_challenge_for_a_while,
    verify::without_an_email_server_an_address_alone_gets_an_honest_answer,
    agent::changes_go_through_the_store_with_audit_entries,
    agent::a_sold_out_product_gets_a_stock_alert_for_a_verified_customer,
    agent::handoff_queues_with_a_summary_and_the_bot_then_stays_quiet,
    agent::repeated_unanswerable_questions_end_with_a_person,
    agent::outside_support_hours_the_customer_learns_when_a_person_replies,
    agent::an_idle_conversation_closes_and_the_next_message_starts_a_new_one,
    agent::an_over_long_message_gets_a_polite_answer,
    agent::the_conversation_follows_the_customers_language,
    agent::a_dangerous_product_goes_to_a_person_at_once_in_every_language,
    cases::customers_are_matched_on_email_and_never_duplicated,
    cases::order_buyers_only_fill_empty_customer_fields,
    cases::customers_without_email_are_matched_on_phone,
    cases::identities_link_relink_and_fall_back_to_email,
    cases::a_newer_consent_decision_wins_and_an_older_one_is_ignored,
    cases::orders_round_trip_with_lines_and_exact_money,
    cases::reimporting_an_unchanged_order_writes_nothing_and_a_changed_one_replaces_its_lines,
    cases::parcel_status_follows_its_latest_event_and_events_are_deduplicated,
    cases::documents_are_upserted_skipped_when_unchanged_and_pruned,
    cases::a_redelivered_message_is_recorded_once,
    cases::a_closed_conversation_is_not_reopened,
    cases::a_handoff_is_claimed_by_one_staff_member_only,
    cases::staff_emails_are_unique_and_the_audit_log_keeps_order,
    cases::a_writer_dropped_without_commit_leaves_nothing_behind,
    cases::products_keep_translations_and_variants,
    imports::shopify_orders_with_several_line_items_import_once,
    imports::a_bad_date_names_its_line_and_column_and_writes_nothing,
    imports::orders_rows_that_are_not_adjacent_are_refused,
    imports::a_file_with_a_bom_and_missing_optional_columns_imports,
    imports::shopify_products_group_variants_by_handle,
    imports::customers_csv_links_identities_and_consent,
    imports::shipments_need_a_known_order,
    imports::faq_folder_imports_and_reports_bad_front_matter,
    order_refs::order_names_are_found_however_customers_write_them,
    order_refs::a_customer_names_orders_in_the_shops_format,
    order_refs::a_reference_that_matches_nothing_is_never_swapped,
    order_refs::a_change_waits_for_the_customers_yes,
    imports::import_errors_name_the_line_an_editor_shows,
    imports::draft_and_archived_products_are_kept_but_not_offered,
    languages::each_language_export_adds_its_translation_and_keeps_the_others,
    languages::customers_find_a_product_by_any_of_its_names_and_read_their_own,
);
