<nav class="pager" aria-label="Pages">
  % if page.rows:
  <span class="count">{{page.first_index}}–{{page.last_index}}{{(' of %d' % page.total) if page.total is not None else ''}}</span>
  % end
  % if page.page > 1:
  <a href="{{url(page=page.page - 1)}}" rel="prev">‹ Previous</a>
  % end
  % if page.pages:
  <span>Page {{page.page}} of {{page.pages}}</span>
  % else:
  <span>Page {{page.page}}</span>
  % end
  % if page.has_next:
  <a href="{{url(page=page.page + 1)}}" rel="next">Next ›</a>
  % end
</nav>
