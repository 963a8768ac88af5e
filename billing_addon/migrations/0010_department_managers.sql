-- Department managers (issue #15): the departments a billing user of role 'manager'
-- manages; such a user sees and recharges only the extensions and accounts of these.
-- Roles of billing_user.role: 'billing' (full), 'auditor' (read-only), 'manager'.
CREATE TABLE user_department (
    user_id        INTEGER NOT NULL REFERENCES billing_user (id) ON DELETE CASCADE,
    department_id  INTEGER NOT NULL REFERENCES department (id) ON DELETE CASCADE,
    PRIMARY KEY (user_id, department_id)
);
CREATE INDEX user_department_department ON user_department (department_id);
