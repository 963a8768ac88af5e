% rebase('layout.tpl')
<div class="panel">
  <p class="error-message" id="error-message">{{message}}</p>
  <p><a href="/" data-back>{{_("Back")}}</a> · <a href="/">{{_("Home")}}</a></p>
</div>
