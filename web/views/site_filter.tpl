% site_options = site_choices()
% if site_options:
  <label>{{_("Site")}}
    <select name="site" id="filter-site">
      <option value="">{{_("All sites") if not get('site_default') else site_default}}</option>
      % for value, label in site_options:
      <option value="{{value}}" {{'selected' if filters.get('site', '') == value else ''}}>{{label}}</option>
      % end
    </select></label>
% end
% include('field_error.tpl', name='site')
