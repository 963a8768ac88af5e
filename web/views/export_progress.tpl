% rebase('layout.tpl')
<div class="panel" id="export-job">
  <h2>{{job.filename}}</h2>
  % if job.error:
  <p class="error-message" id="export-error">{{_("The download could not be built: {reason}").format(reason=job.error)}}</p>
  <p><a href="/" data-back>{{_("Back")}}</a></p>
  % elif job.ready:
  <p id="export-ready">{{_("Ready: {rows} rows.").format(rows=f"{job.done:,}")}}</p>
  <p><a href="/exports/{{job.id}}/file" class="button" id="export-download" download>{{_("Download {filename}").format(filename=job.filename)}}</a></p>
  <p class="hint">{{_("Kept for 30 minutes, for you only.")}}</p>
  % else:
  % if job.total is None:
  <p id="export-status">{{_("Counting the rows…")}}</p>
  <progress id="export-progress"></progress>
  % elif job.done >= job.total:
  <p id="export-status">{{_("Packing the file ({rows} rows)…").format(rows=f"{job.total:,}")}}</p>
  <progress id="export-progress"></progress>
  % else:
  <p id="export-status">{{_("Writing row {done} of {total}…").format(done=f"{job.done:,}", total=f"{job.total:,}")}}</p>
  <progress id="export-progress" max="{{max(job.total, 1)}}" value="{{job.done}}"></progress>
  % end
  <p class="hint">{{_("This page updates itself; the download appears here when the file is ready.")}}</p>
  % end
</div>
