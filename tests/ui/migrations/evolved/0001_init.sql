-- Created, then changed by the later files, which the check replays in order.
CREATE TABLE projects (
    id uuid NOT NULL,
    org_id uuid NOT NULL,
    title text NOT NULL,
    legacy integer,
    PRIMARY KEY (org_id, id)
);
CREATE INDEX projects_title_idx ON projects (org_id, title);
