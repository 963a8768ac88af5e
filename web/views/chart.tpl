<figure class="chart" id="{{chart_id}}">
  <figcaption>{{caption}}</figcaption>
  % if not chart['top']:
  <p class="empty">{{_("No calls in this period.")}}</p>
  % else:
  <div class="chart-scroll">
  <svg xmlns="http://www.w3.org/2000/svg" width="{{chart['width']}}" height="{{chart['base'] + 40}}" role="img" aria-label="{{caption}}">
    <line x1="38" y1="{{chart['base']}}" x2="{{chart['width']}}" y2="{{chart['base']}}" class="axis"/>
    <text x="2" y="16" class="tick-label">{{label(chart['top'])}}</text>
    % for i, b in enumerate(chart['bars']):
    <rect x="{{b['x']}}" y="{{b['y']}}" width="{{b['w']}}" height="{{b['h']}}" class="bar"><title>{{b['label']}}: {{label(b['value'])}}</title></rect>
    % if i % chart['every'] == 0:
    <text x="{{b['x']}}" y="{{chart['base'] + 14}}" class="tick-label">{{b['label'][-5:] if len(b['label']) == 10 else b['label']}}</text>
    % end
    % end
  </svg>
  </div>
  % end
</figure>
