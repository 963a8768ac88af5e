% rebase('layout.tpl')
<div class="panel" id="export-job">
  <h2>{{job.filename}}</h2>
  % if job.error:
  <p class="error-message" id="export-error">The download could not be built: {{job.error}}</p>
  <p><a href="/" data-back>Back</a></p>
  % elif job.ready:
  <p id="export-ready">Ready: {{f"{job.done:,}"}} rows.</p>
  <p><a href="/exports/{{job.id}}/file" class="button" id="export-download" download>Download {{job.filename}}</a></p>
  <p class="hint">Kept for 30 minutes, for you only.</p>
  % else:
  % if job.total is None:
  <p id="export-status">Counting the rows…</p>
  <progress id="export-progress"></progress>
  % elif job.done >= job.total:
  <p id="export-status">Packing the file ({{f"{job.total:,}"}} rows)…</p>
  <progress id="export-progress"></progress>
  % else:
  <p id="export-status">Writing row {{f"{job.done:,}"}} of {{f"{job.total:,}"}}…</p>
  <progress id="export-progress" max="{{max(job.total, 1)}}" value="{{job.done}}"></progress>
  % end
  <p class="hint">This page updates itself; the download appears here when the file is ready.</p>
  % end
</div>
