-- Indexes for listings by page and for counting a managed policy's attachments.
CREATE INDEX role_policy_attachments_by_policy ON role_policy_attachments (policy_name);
