-- The UI language per user (issue #14): one of i18n.LOCALES, NULL = the box's default
-- (the `language` setting).
ALTER TABLE billing_user ADD COLUMN locale TEXT;
