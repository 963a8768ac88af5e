% here = box_site()
% if here:
  <div class="field">
    <label for="sites">{{_("Sites")}}</label>
    <select id="sites" name="sites">
      <option value="" {{'selected' if form.get('sites') != 'all' else ''}}>{{_("This site ({site})").format(site=here)}}</option>
      <option value="all" {{'selected' if form.get('sites') == 'all' else ''}}>{{_("All sites")}}</option>
    </select>
    <span class="hint">{{_("An account of all sites is usable at every site of the group; its number must be free at all of them.")}}</span>
  </div>
% end
