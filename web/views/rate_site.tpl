% here = box_site()
% if here:
  <div class="field">
    <label for="site">{{_("Sites")}}</label>
    <select id="site" name="site">
      <option value="{{here}}" {{'selected' if form.get('site') == here else ''}}>{{_("This site ({site})").format(site=here)}}</option>
      <option value="" {{'selected' if not form.get('site') else ''}}>{{_("All sites")}}</option>
    </select>
    <span class="hint">{{_("This site's rate replaces a rate of all sites with the same prefix, number length and time.")}}</span>
    % include('field_error.tpl', name='site')
  </div>
% end
