% rebase('layout.tpl')
<meta http-equiv="refresh" content="1">
<div class="panel" id="import-progress">
  <p>{{!_('Importing {rows} rates: <strong id="import-done">{done}</strong> of {rows} written ({percent} %). Calls go on meanwhile; the old rates stay in force until every row is written, then the new ones take over at once.').format(rows=job.rows, done=job.done, percent=job.done * 100 // max(job.rows, 1))}}</p>
  <progress max="{{job.rows}}" value="{{job.done}}"></progress>
  <p><a href="">{{_("Refresh")}}</a></p>
</div>
