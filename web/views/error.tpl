% # message and title may come marked only (the error handler's, bottle's reason phrases)
% rebase('layout.tpl', title=_(title))
<div class="panel">
  <p class="error-message" id="error-message">{{_(message)}}</p>
  <p><a href="/" data-back>{{_("Back")}}</a> · <a href="/">{{_("Home")}}</a></p>
</div>
