% rebase('layout.tpl')
<meta http-equiv="refresh" content="1">
<div class="panel" id="import-progress">
  <p>Importing {{job.rows}} rates: <strong id="import-done">{{job.done}}</strong> of {{job.rows}} written
     ({{job.done * 100 // max(job.rows, 1)}} %). Calls go on meanwhile; the old rates stay in force until
     every row is written, then the new ones take over at once.</p>
  <progress max="{{job.rows}}" value="{{job.done}}"></progress>
  <p><a href="">Refresh</a></p>
</div>
