<nav class="pager" aria-label="{{_("Pages")}}">
  % if page.rows:
  <span class="count">{{_("{first}–{last} of {total}").format(first=page.first_index, last=page.last_index, total=page.total) if page.total is not None else '{}–{}'.format(page.first_index, page.last_index)}}</span>
  % end
  % if page.page > 1:
  <a href="{{url(page=page.page - 1)}}" rel="prev">‹ {{_("Previous")}}</a>
  % end
  % if page.pages:
  <span>{{_("Page {page} of {pages}").format(page=page.page, pages=page.pages)}}</span>
  % else:
  <span>{{_("Page {page}").format(page=page.page)}}</span>
  % end
  % if page.has_next:
  <a href="{{url(page=page.page + 1)}}" rel="next">{{_("Next")}} ›</a>
  % end
</nav>
