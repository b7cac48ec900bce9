-- Permissions boundaries: the managed policy that bounds a role's permissions, by ARN (as IAM
-- returns it) and by name (so that a policy in use as a boundary cannot be deleted).
ALTER TABLE roles ADD COLUMN permissions_boundary_arn TEXT;
ALTER TABLE roles ADD COLUMN permissions_boundary_policy TEXT REFERENCES managed_policies (name);
CREATE INDEX roles_by_permissions_boundary ON roles (permissions_boundary_policy);
